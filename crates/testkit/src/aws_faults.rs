//! A loopback fault-injecting proxy for the two AWS batch-put calls that can fail entry by
//! entry: Kinesis `PutRecords` and Firehose `PutRecordBatch` (JSON 1.1 over HTTP/1.1, told
//! apart by `x-amz-target`). moto never fails an entry; this proxy, put between a client and
//! moto, makes chosen calls fail the way the services document:
//!
//! - a partial failure: some entries are taken out of the request before it is forwarded,
//!   and the real answer is merged with those entries marked failed
//!   (`ProvisionedThroughputExceededException` for Kinesis, `ServiceUnavailableException`
//!   for Firehose) and `FailedRecordCount` / `FailedPutCount` raised to match;
//! - a whole-call failure, not forwarded: a 500 `InternalFailure` or the service's 400
//!   throttling error.
//!
//! DynamoDB `BatchWriteItem` (JSON 1.0, [`Upstream::Forward`] only) fails the same ways:
//! chosen write requests are not forwarded and come back in `UnprocessedItems` (moto never
//! leaves any), or the call fails whole (`ProvisionedThroughputExceededException`, 400, or
//! `InternalServerError`, 500). A call that names one item twice is refused as DynamoDB
//! refuses it (`ValidationException`, 400), which moto does not check.
//!
//! Every other request is forwarded untouched. With [`Upstream::Accept`] there is no moto
//! behind it: the proxy itself accepts every entry it does not fail (for tests that need a
//! sink that fails now and then, without peers), and answers the sinks' start-up checks
//! (`DescribeDeliveryStream`, `DescribeStreamSummary`) with an active stream.
//!
//! [`FaultProxy::set_outage`] fails every call whole until it is lifted (a service outage).
//! [`FaultProxy::in_memory`] is the same proxy without a socket, as an SDK HTTP client: for
//! tests on a paused tokio clock, which must not wait on real sockets (see `xfake`).
//!
//! HTTP/1.1 is read and written by hand, as in `xfake`: only two JSON calls with
//! `content-length` bodies matter, and the bodies must be rewritten, which a forwarding crate
//! would not do for us. It is not a model of the services' limits.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::client::http::{
    HttpConnector, HttpConnectorFuture, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Where calls go once their faults are applied.
#[derive(Debug, Clone)]
pub enum Upstream {
    /// A server (moto) at this base URL, e.g. `http://127.0.0.1:5000`.
    Forward(String),
    /// No server: every entry not failed by the plan is accepted.
    Accept,
}

/// A whole-call failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WholeFailure {
    /// HTTP 500 `InternalFailure`.
    Internal,
    /// HTTP 400 with the service's throttling error.
    Throttled,
}

/// What happens to one batch-put call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    Pass,
    /// These entries (indexes into the call's records) are refused, the rest forwarded.
    Refuse(Vec<usize>),
    Whole(WholeFailure),
}

/// Which calls fail, and how.
#[derive(Debug, Clone)]
pub enum FaultPlan {
    /// Call `i` gets `faults[i]`; calls past the end pass.
    Scripted(Vec<Fault>),
    /// Random but reproducible: each call fails whole with `whole_rate`, else has some of its
    /// entries refused with `partial_rate` (each entry with `entry_rate`, at least one).
    Seeded {
        seed: u64,
        whole_rate: f64,
        partial_rate: f64,
        entry_rate: f64,
    },
}

/// What the proxy did, for the tests' arithmetic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FaultLog {
    /// Batch-put calls received.
    pub calls: usize,
    pub whole_failures: usize,
    /// Calls with some entries refused.
    pub partial_failures: usize,
    /// Entries refused in partial failures.
    pub refused_entries: usize,
    /// Entries in calls failed whole.
    pub entries_in_failed_calls: usize,
    /// Entries passed on (forwarded, or accepted by [`Upstream::Accept`]).
    pub passed_entries: usize,
    /// With [`Upstream::Accept`]: the data of every entry accepted, in order, with its
    /// partition key (Kinesis) — what a reader of the stream would get.
    pub accepted: Vec<(Option<String>, Vec<u8>)>,
}

#[derive(Debug)]
struct State {
    plan: FaultPlan,
    rng: SplitMix64,
    log: FaultLog,
    outage: Option<WholeFailure>,
}

/// The running proxy; it lives as long as the test's runtime.
#[derive(Debug, Clone)]
pub struct FaultProxy {
    /// `None` for the in-memory proxy.
    addr: Option<SocketAddr>,
    state: Arc<Mutex<State>>,
}

fn new_state(plan: FaultPlan) -> Arc<Mutex<State>> {
    let seed = match plan {
        FaultPlan::Seeded { seed, .. } => seed,
        FaultPlan::Scripted(_) => 0,
    };
    Arc::new(Mutex::new(State {
        plan,
        rng: SplitMix64(seed),
        log: FaultLog::default(),
        outage: None,
    }))
}

impl FaultProxy {
    pub async fn start(upstream: Upstream, plan: FaultPlan) -> std::io::Result<FaultProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let proxy = FaultProxy {
            addr: Some(listener.local_addr()?),
            state: new_state(plan),
        };
        let state = Arc::clone(&proxy.state);
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let state = Arc::clone(&state);
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    let _ = serve(socket, &state, &upstream).await;
                });
            }
        });
        Ok(proxy)
    }

    /// The proxy in memory, accepting what it does not fail ([`Upstream::Accept`]), and the
    /// HTTP client to build an SDK client with (any endpoint URL will do).
    pub fn in_memory(plan: FaultPlan) -> (FaultProxy, SharedHttpClient) {
        let proxy = FaultProxy {
            addr: None,
            state: new_state(plan),
        };
        let connector = SharedHttpConnector::new(MemoryConnector(proxy.clone()));
        let client =
            aws_smithy_runtime_api::client::http::http_client_fn(move |_, _| connector.clone());
        (proxy, client)
    }

    /// The endpoint URL to give the AWS client (a placeholder for the in-memory proxy).
    pub fn url(&self) -> String {
        match self.addr {
            Some(addr) => format!("http://{addr}"),
            None => "http://in-memory.invalid".to_owned(),
        }
    }

    pub fn log(&self) -> FaultLog {
        self.state.lock().map(|s| s.log.clone()).unwrap_or_default()
    }

    /// While `Some`, every call (batch puts and the start-up checks) fails whole this way,
    /// whatever the plan says; the plan resumes where it was once lifted.
    pub fn set_outage(&self, outage: Option<WholeFailure>) {
        if let Ok(mut s) = self.state.lock() {
            s.outage = outage;
        }
    }
}

/// The in-memory transport: each request is answered at once, without a socket.
#[derive(Debug)]
struct MemoryConnector(FaultProxy);

impl HttpConnector for MemoryConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let head = Head {
            request_line: format!("{} {} HTTP/1.1", request.method(), request.uri()),
            headers: request
                .headers()
                .iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        };
        let body = request.body().bytes().unwrap_or_default().to_vec();
        let answer = answer_in_memory(&self.0.state, &head, &body);
        HttpConnectorFuture::ready(answer.and_then(|response| {
            let status = StatusCode::try_from(response.status)
                .map_err(|e| ConnectorError::other(e.into(), None))?;
            let mut out = HttpResponse::new(status, SdkBody::from(response.body));
            for (k, v) in response.headers {
                out.headers_mut().insert(k, v);
            }
            out.headers_mut()
                .insert("x-amzn-requestid", "fault-proxy-in-memory");
            Ok(out)
        }))
    }
}

fn answer_in_memory(
    state: &Mutex<State>,
    head: &Head,
    body: &[u8],
) -> Result<Response, ConnectorError> {
    let io = |e: std::io::Error| ConnectorError::io(e.into());
    if let Some(outage) = outage(state) {
        return Ok(fail_for_outage(state, service_of(head), body, outage));
    }
    match service_of(head) {
        Some(service) => {
            let records = batch_records(body).map_err(io)?;
            let fault = decide(state, records.len()).map_err(io)?;
            Ok(match fault_answer(service, fault, records.len()) {
                Err(response) => response,
                Ok(refused) => {
                    record_accepted(state, &records, &refused);
                    merge(
                        service,
                        &accept_all(service, records.len() - refused.len()),
                        records.len(),
                        &refused,
                    )
                }
            })
        }
        None => Ok(accept_other(head)),
    }
}

/// The two services' batch-put shapes.
#[derive(Debug, Clone, Copy)]
struct Service {
    /// The answer's per-entry array and failure count.
    entries_field: &'static str,
    count_field: &'static str,
    /// The documented per-entry error code for "try again".
    entry_error: &'static str,
    entry_message: &'static str,
    /// The whole-call throttling error.
    throttle: &'static str,
}

const KINESIS: Service = Service {
    entries_field: "Records",
    count_field: "FailedRecordCount",
    entry_error: "ProvisionedThroughputExceededException",
    entry_message: "Rate exceeded for shard shardId-000000000000 in stream under account 123456789012.",
    throttle: "ProvisionedThroughputExceededException",
};

const FIREHOSE: Service = Service {
    entries_field: "RequestResponses",
    count_field: "FailedPutCount",
    entry_error: "ServiceUnavailableException",
    entry_message: "Slow down.",
    throttle: "ServiceUnavailableException",
};

fn service_of(head: &Head) -> Option<Service> {
    match head.header("x-amz-target")? {
        "Kinesis_20131202.PutRecords" => Some(KINESIS),
        "Firehose_20150804.PutRecordBatch" => Some(FIREHOSE),
        _ => None,
    }
}

struct Head {
    request_line: String,
    headers: Vec<(String, String)>,
}

impl Head {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn json(status: u16, body: &serde_json::Value) -> Response {
        Response {
            status,
            headers: vec![("content-type".into(), "application/x-amz-json-1.1".into())],
            body: body.to_string().into_bytes(),
        }
    }
}

async fn serve(
    mut socket: TcpStream,
    state: &Mutex<State>,
    upstream: &Upstream,
) -> std::io::Result<()> {
    let mut buffered = Vec::new();
    // One connection carries many requests (the SDK keeps connections alive).
    while let Some((head, body)) = read_message(&mut socket, &mut buffered).await? {
        let dynamodb = head.header("x-amz-target") == Some("DynamoDB_20120810.BatchWriteItem");
        let response = match (outage(state), service_of(&head)) {
            (None, _) if dynamodb => batch_write_item(state, upstream, &head, &body).await?,
            (Some(outage), _) if dynamodb => {
                if let Ok(mut s) = state.lock() {
                    s.log.calls += 1;
                    s.log.whole_failures += 1;
                }
                dynamodb_failure(outage)
            }
            (Some(outage), service) => fail_for_outage(state, service, &body, outage),
            (None, Some(service)) => batch_put(state, upstream, service, &head, &body).await?,
            (None, None) => match upstream {
                Upstream::Forward(url) => forward(url, &head, &body).await?,
                Upstream::Accept => accept_other(&head),
            },
        };
        let mut out = format!("HTTP/1.1 {} X\r\n", response.status);
        for (k, v) in &response.headers {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        out.push_str(&format!(
            "content-length: {}\r\nx-amzn-requestid: fault-proxy\r\n\r\n",
            response.body.len()
        ));
        socket.write_all(out.as_bytes()).await?;
        socket.write_all(&response.body).await?;
        socket.flush().await?;
    }
    Ok(())
}

fn outage(state: &Mutex<State>) -> Option<WholeFailure> {
    state.lock().ok().and_then(|s| s.outage)
}

/// A call failed by the outage: counted like a scripted whole failure when it is a batch put.
fn fail_for_outage(
    state: &Mutex<State>,
    service: Option<Service>,
    body: &[u8],
    failure: WholeFailure,
) -> Response {
    if service.is_some() {
        let entries = batch_records(body).map(|r| r.len()).unwrap_or(0);
        if let Ok(mut s) = state.lock() {
            s.log.calls += 1;
            s.log.whole_failures += 1;
            s.log.entries_in_failed_calls += entries;
        }
    }
    whole_failure(service.unwrap_or(FIREHOSE), failure)
}

fn batch_records(body: &[u8]) -> std::io::Result<Vec<serde_json::Value>> {
    let request: serde_json::Value = serde_json::from_slice(body).map_err(std::io::Error::other)?;
    Ok(request["Records"].as_array().cloned().unwrap_or_default())
}

/// Picks the next call's fault and counts it.
fn decide(state: &Mutex<State>, entries: usize) -> std::io::Result<Fault> {
    let mut s = state
        .lock()
        .map_err(|_| std::io::Error::other("poisoned"))?;
    let call = s.log.calls;
    s.log.calls += 1;
    // A scripted refusal names entries of a call that may have fewer.
    let fault = match choose(&mut s, call, entries) {
        Fault::Refuse(refused) => {
            let refused: Vec<usize> = refused.into_iter().filter(|&i| i < entries).collect();
            if refused.is_empty() {
                Fault::Pass
            } else {
                Fault::Refuse(refused)
            }
        }
        other => other,
    };
    match &fault {
        Fault::Whole(_) => {
            s.log.whole_failures += 1;
            s.log.entries_in_failed_calls += entries;
        }
        Fault::Refuse(refused) => {
            s.log.partial_failures += 1;
            s.log.refused_entries += refused.len();
            s.log.passed_entries += entries - refused.len();
        }
        Fault::Pass => s.log.passed_entries += entries,
    }
    Ok(fault)
}

fn whole_failure(service: Service, failure: WholeFailure) -> Response {
    match failure {
        WholeFailure::Internal => Response::json(
            500,
            &serde_json::json!({"__type": "InternalFailure", "message": "injected"}),
        ),
        WholeFailure::Throttled => Response::json(
            400,
            &serde_json::json!({"__type": service.throttle, "message": "injected"}),
        ),
    }
}

/// A whole failure's answer, or the entries to refuse.
fn fault_answer(service: Service, fault: Fault, entries: usize) -> Result<Vec<usize>, Response> {
    match fault {
        Fault::Whole(failure) => Err(whole_failure(service, failure)),
        Fault::Refuse(refused) => Ok(refused.into_iter().filter(|&i| i < entries).collect()),
        Fault::Pass => Ok(Vec::new()),
    }
}

/// The real answer for the entries that were forwarded, with the refused entries put back
/// in their places.
fn merge(
    service: Service,
    answer: &serde_json::Value,
    entries: usize,
    refused: &[usize],
) -> Response {
    let mut real = answer[service.entries_field]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter();
    let mut merged = Vec::with_capacity(entries);
    for i in 0..entries {
        if refused.contains(&i) {
            merged.push(serde_json::json!({
                "ErrorCode": service.entry_error,
                "ErrorMessage": service.entry_message,
            }));
        } else {
            merged.push(real.next().unwrap_or(serde_json::Value::Null));
        }
    }
    let mut out = answer.clone();
    out[service.count_field] =
        (answer[service.count_field].as_u64().unwrap_or(0) + refused.len() as u64).into();
    out[service.entries_field] = merged.into();
    Response::json(200, &out)
}

async fn batch_put(
    state: &Mutex<State>,
    upstream: &Upstream,
    service: Service,
    head: &Head,
    body: &[u8],
) -> std::io::Result<Response> {
    let mut request: serde_json::Value =
        serde_json::from_slice(body).map_err(std::io::Error::other)?;
    let records = request["Records"].as_array().cloned().unwrap_or_default();
    let fault = decide(state, records.len())?;
    let refused = match fault_answer(service, fault, records.len()) {
        Err(response) => return Ok(response),
        Ok(refused) => refused,
    };
    let kept: Vec<serde_json::Value> = records
        .iter()
        .enumerate()
        .filter(|(i, _)| !refused.contains(i))
        .map(|(_, r)| r.clone())
        .collect();
    let answer = if kept.is_empty() {
        serde_json::json!({service.count_field: 0, service.entries_field: []})
    } else {
        match upstream {
            Upstream::Accept => {
                record_accepted(state, &records, &refused);
                accept_all(service, kept.len())
            }
            Upstream::Forward(url) => {
                request["Records"] = kept.into();
                let forwarded = forward(url, head, request.to_string().as_bytes()).await?;
                if forwarded.status != 200 {
                    return Ok(forwarded);
                }
                serde_json::from_slice(&forwarded.body).map_err(std::io::Error::other)?
            }
        }
    };
    Ok(merge(service, &answer, records.len(), &refused))
}

/// DynamoDB's answer to a whole call failed.
fn dynamodb_failure(failure: WholeFailure) -> Response {
    let (status, kind) = match failure {
        WholeFailure::Internal => (500, "com.amazonaws.dynamodb.v20120810#InternalServerError"),
        WholeFailure::Throttled => (
            400,
            "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
        ),
    };
    let mut response = Response::json(
        status,
        &serde_json::json!({"__type": kind, "message": "injected"}),
    );
    response.headers = vec![("content-type".into(), "application/x-amz-json-1.0".into())];
    response
}

/// Whether a `BatchWriteItem`'s requests name one item (table, `id`, `timestamp`) twice.
fn names_an_item_twice(tables: &serde_json::Map<String, serde_json::Value>) -> bool {
    let mut keys = std::collections::HashSet::new();
    for (table, requests) in tables {
        for r in requests.as_array().into_iter().flatten() {
            let key = if r["PutRequest"].is_object() {
                &r["PutRequest"]["Item"]
            } else {
                &r["DeleteRequest"]["Key"]
            };
            let key = (table, key["id"].to_string(), key["timestamp"].to_string());
            if !keys.insert(key) {
                return true;
            }
        }
    }
    false
}

/// `BatchWriteItem` with the plan's fault: the refused write requests (numbered across the
/// call's tables in order) are not forwarded and are answered as `UnprocessedItems`.
async fn batch_write_item(
    state: &Mutex<State>,
    upstream: &Upstream,
    head: &Head,
    body: &[u8],
) -> std::io::Result<Response> {
    let Upstream::Forward(url) = upstream else {
        return Err(std::io::Error::other("BatchWriteItem needs an upstream"));
    };
    let mut request: serde_json::Value =
        serde_json::from_slice(body).map_err(std::io::Error::other)?;
    let tables = request["RequestItems"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    if names_an_item_twice(&tables) {
        let mut response = Response::json(
            400,
            &serde_json::json!({
                "__type": "com.amazonaws.dynamodb.v20120810#ValidationException",
                "message": "Provided list of item keys contains duplicates",
            }),
        );
        response.headers = vec![("content-type".into(), "application/x-amz-json-1.0".into())];
        return Ok(response);
    }
    let entries: usize = tables
        .values()
        .map(|r| r.as_array().map_or(0, Vec::len))
        .sum();
    let refused = match decide(state, entries)? {
        Fault::Whole(failure) => return Ok(dynamodb_failure(failure)),
        Fault::Refuse(refused) => refused,
        Fault::Pass => Vec::new(),
    };
    let mut kept = serde_json::Map::new();
    let mut unprocessed = serde_json::Map::new();
    let mut i = 0;
    for (table, requests) in tables {
        let (mut keep, mut hold) = (Vec::new(), Vec::new());
        for r in requests.as_array().cloned().unwrap_or_default() {
            if refused.contains(&i) {
                hold.push(r);
            } else {
                keep.push(r);
            }
            i += 1;
        }
        if !keep.is_empty() {
            kept.insert(table.clone(), keep.into());
        }
        if !hold.is_empty() {
            unprocessed.insert(table, hold.into());
        }
    }
    let mut answer = if kept.is_empty() {
        serde_json::json!({})
    } else {
        request["RequestItems"] = kept.into();
        let forwarded = forward(url, head, request.to_string().as_bytes()).await?;
        if forwarded.status != 200 {
            return Ok(forwarded);
        }
        serde_json::from_slice(&forwarded.body).map_err(std::io::Error::other)?
    };
    answer["UnprocessedItems"] = unprocessed.into();
    let mut response = Response::json(200, &answer);
    response.headers = vec![("content-type".into(), "application/x-amz-json-1.0".into())];
    Ok(response)
}

/// Keeps the data (base64 in the request) and partition key of the entries not refused.
fn record_accepted(state: &Mutex<State>, records: &[serde_json::Value], refused: &[usize]) {
    let Ok(mut s) = state.lock() else {
        return;
    };
    for (i, record) in records.iter().enumerate() {
        if refused.contains(&i) {
            continue;
        }
        let data = record["Data"]
            .as_str()
            .and_then(|b| aws_smithy_types::base64::decode(b).ok())
            .unwrap_or_default();
        let key = record["PartitionKey"].as_str().map(str::to_owned);
        s.log.accepted.push((key, data));
    }
}

/// Without an upstream: the sinks' start-up checks see an active stream; anything else is
/// an unknown operation.
fn accept_other(head: &Head) -> Response {
    match head.header("x-amz-target") {
        Some("Firehose_20150804.DescribeDeliveryStream") => Response::json(
            200,
            &serde_json::json!({"DeliveryStreamDescription": {
                "DeliveryStreamName": "in-memory",
                "DeliveryStreamARN": "arn:aws:firehose:us-east-1:123456789012:deliverystream/in-memory",
                "DeliveryStreamStatus": "ACTIVE",
                "DeliveryStreamType": "DirectPut",
                "VersionId": "1",
                "Destinations": [],
                "HasMoreDestinations": false,
            }}),
        ),
        Some("Kinesis_20131202.DescribeStreamSummary") => Response::json(
            200,
            &serde_json::json!({"StreamDescriptionSummary": {
                "StreamName": "in-memory",
                "StreamARN": "arn:aws:kinesis:us-east-1:123456789012:stream/in-memory",
                "StreamStatus": "ACTIVE",
                "RetentionPeriodHours": 24,
                "StreamCreationTimestamp": 1.7e9,
                "EnhancedMonitoring": [],
                "OpenShardCount": 1,
            }}),
        ),
        _ => Response::json(
            400,
            &serde_json::json!({"__type": "UnknownOperationException"}),
        ),
    }
}

fn choose(s: &mut State, call: usize, entries: usize) -> Fault {
    match &s.plan {
        FaultPlan::Scripted(faults) => faults.get(call).cloned().unwrap_or(Fault::Pass),
        &FaultPlan::Seeded {
            whole_rate,
            partial_rate,
            entry_rate,
            ..
        } => {
            let roll = s.rng.unit();
            if roll < whole_rate {
                let kind = if s.rng.unit() < 0.5 {
                    WholeFailure::Internal
                } else {
                    WholeFailure::Throttled
                };
                Fault::Whole(kind)
            } else if roll < whole_rate + partial_rate && entries > 0 {
                let mut refused: Vec<usize> =
                    (0..entries).filter(|_| s.rng.unit() < entry_rate).collect();
                if refused.is_empty() {
                    refused.push((s.rng.next() % entries as u64) as usize);
                }
                Fault::Refuse(refused)
            } else {
                Fault::Pass
            }
        }
    }
}

fn accept_all(service: Service, n: usize) -> serde_json::Value {
    let entries: Vec<serde_json::Value> = (0..n)
        .map(|i| {
            if service.count_field == KINESIS.count_field {
                serde_json::json!({"SequenceNumber": i.to_string(), "ShardId": "shardId-000000000000"})
            } else {
                serde_json::json!({"RecordId": i.to_string()})
            }
        })
        .collect();
    let mut out = serde_json::json!({service.count_field: 0, service.entries_field: entries});
    if service.count_field == FIREHOSE.count_field {
        out["Encrypted"] = false.into();
    }
    out
}

/// Sends the request to `url` on a fresh connection and reads the whole answer.
async fn forward(url: &str, head: &Head, body: &[u8]) -> std::io::Result<Response> {
    let host = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let mut upstream = TcpStream::connect(&host).await?;
    let mut out = format!("{}\r\n", head.request_line);
    for (k, v) in &head.headers {
        let skip = ["content-length", "connection", "transfer-encoding", "host"];
        if !skip.iter().any(|s| k.eq_ignore_ascii_case(s)) {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    out.push_str(&format!(
        "host: {host}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    ));
    upstream.write_all(out.as_bytes()).await?;
    upstream.write_all(body).await?;
    upstream.flush().await?;
    let mut buffered = Vec::new();
    let Some((head, body)) = read_message(&mut upstream, &mut buffered).await? else {
        return Err(std::io::Error::other("upstream closed without an answer"));
    };
    let status = head
        .request_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(502);
    let headers = head
        .headers
        .into_iter()
        .filter(|(k, _)| {
            !["content-length", "connection", "transfer-encoding"]
                .iter()
                .any(|s| k.eq_ignore_ascii_case(s))
        })
        .collect();
    Ok(Response {
        status,
        headers,
        body,
    })
}

/// Reads one HTTP/1.1 message (request or response): its first line and headers, and a body
/// by `content-length`, `chunked`, or (a response with neither) up to the end of the stream.
/// `None` when the peer closed before a new message.
async fn read_message(
    socket: &mut TcpStream,
    buffered: &mut Vec<u8>,
) -> std::io::Result<Option<(Head, Vec<u8>)>> {
    let mut tmp = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(pos) = buffered.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos;
        }
        let n = socket.read(&mut tmp).await?;
        if n == 0 {
            return Ok(None);
        }
        buffered.extend_from_slice(&tmp[..n]);
    };
    let text = String::from_utf8_lossy(&buffered[..head_end]).into_owned();
    buffered.drain(..head_end + 4);
    let mut lines = text.split("\r\n");
    let request_line = lines.next().unwrap_or("").to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let head = Head {
        request_line,
        headers,
    };
    let is_response = head.request_line.starts_with("HTTP/");
    let body = if let Some(length) = head
        .header("content-length")
        .and_then(|v| v.parse::<usize>().ok())
    {
        while buffered.len() < length {
            let n = socket.read(&mut tmp).await?;
            if n == 0 {
                return Err(std::io::Error::other("body cut short"));
            }
            buffered.extend_from_slice(&tmp[..n]);
        }
        buffered.drain(..length).collect()
    } else if head
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        read_chunked(socket, buffered).await?
    } else if is_response {
        socket.read_to_end(buffered).await?;
        std::mem::take(buffered)
    } else {
        Vec::new()
    };
    Ok(Some((head, body)))
}

async fn read_chunked(socket: &mut TcpStream, buffered: &mut Vec<u8>) -> std::io::Result<Vec<u8>> {
    let mut tmp = [0u8; 16 * 1024];
    let mut body = Vec::new();
    loop {
        let line_end = loop {
            if let Some(pos) = buffered.windows(2).position(|w| w == b"\r\n") {
                break pos;
            }
            let n = socket.read(&mut tmp).await?;
            if n == 0 {
                return Err(std::io::Error::other("chunked body cut short"));
            }
            buffered.extend_from_slice(&tmp[..n]);
        };
        let size_text = String::from_utf8_lossy(&buffered[..line_end]).into_owned();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(std::io::Error::other)?;
        buffered.drain(..line_end + 2);
        while buffered.len() < size + 2 {
            let n = socket.read(&mut tmp).await?;
            if n == 0 {
                return Err(std::io::Error::other("chunked body cut short"));
            }
            buffered.extend_from_slice(&tmp[..n]);
        }
        if size == 0 {
            buffered.drain(..2);
            return Ok(body);
        }
        body.extend(buffered.drain(..size));
        buffered.drain(..2);
    }
}

/// SplitMix64: a few lines of well-known reproducible randomness, written out so testkit
/// needs no extra dependency for the seeded plan.
#[derive(Debug)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}
