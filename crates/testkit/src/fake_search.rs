//! A loopback HTTP server that stands for a search server where a real one cannot say what
//! a test needs (a refused bulk item, a request never answered): it answers each request by
//! a function of its method and path, and tells the test every request line as it arrives.

/// How long [`FakeServer::wait_for`] waits for a request before failing the test.
pub const WAIT_LIMIT: std::time::Duration = std::time::Duration::from_secs(120);

/// An answer of [`FakeServer`]: status, content type and body; `None` never answers.
pub type Answer = Option<(u16, &'static str, String)>;

/// A loopback HTTP server that answers each request by `answer(method, path)` and tells the
/// test every request line as it arrives (no OpenSearch needed for what it stands for).
pub struct FakeServer {
    pub url: String,
    arrived: std::sync::mpsc::Receiver<String>,
}

impl FakeServer {
    pub fn start(answer: impl Fn(&str, &str) -> Answer + Send + Sync + 'static) -> FakeServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let (tx, arrived) = std::sync::mpsc::channel();
        let answer = std::sync::Arc::new(answer);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (tx, answer) = (tx.clone(), answer.clone());
                std::thread::spawn(move || serve(stream, &tx, &*answer));
            }
        });
        FakeServer { url, arrived }
    }

    /// Waits (bounded) for a request whose line contains `part`; the lines seen before it.
    pub fn wait_for(&self, part: &str) -> Vec<String> {
        let mut seen = Vec::new();
        loop {
            let line = self
                .arrived
                .recv_timeout(WAIT_LIMIT)
                .unwrap_or_else(|_| panic!("no request with {part:?}; saw {seen:?}"));
            let found = line.contains(part);
            seen.push(line);
            if found {
                return seen;
            }
        }
    }

    /// The request lines that arrived so far (and were not waited for).
    pub fn seen(&self) -> Vec<String> {
        self.arrived.try_iter().collect()
    }
}

/// Serves one connection: request after request until the client closes it.
fn serve(
    stream: std::net::TcpStream,
    tx: &std::sync::mpsc::Sender<String>,
    answer: &(dyn Fn(&str, &str) -> Answer + Send + Sync),
) {
    use std::io::{BufRead, BufReader, Read, Write};
    let Ok(clone) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(clone);
    let mut stream = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut length = 0;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let request_line = request_line.trim_end().to_owned();
        let mut parts = request_line.split(' ');
        let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let reply = answer(method, path);
        let _ = tx.send(request_line.clone());
        let Some((status, content_type, body)) = reply else {
            // Never answered: hold the connection until the client gives up.
            let mut sink = Vec::new();
            let _ = reader.read_to_end(&mut sink);
            return;
        };
        let head = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let body = if method == "HEAD" { "" } else { body.as_str() };
        if stream
            .write_all(format!("{head}{body}").as_bytes())
            .is_err()
        {
            return;
        }
    }
}

/// The answers of a search server that has the index and accepts everything up to the bulk
/// request, which `bulk` answers.
pub fn search_server_with_bulk(bulk: impl Fn() -> Answer + Send + Sync + 'static) -> FakeServer {
    FakeServer::start(move |method, path| match (method, path) {
        (_, p) if p.contains("_bulk") => bulk(),
        ("GET", p) if p.ends_with("/_mapping") => Some((200, "application/json", "{}".into())),
        _ => Some((200, "application/json", "{}".into())),
    })
}
