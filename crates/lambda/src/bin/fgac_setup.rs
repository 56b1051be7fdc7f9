//! `tweet-indexer-fgac-setup`: the CloudFormation custom resource that maps the indexer's IAM
//! role in the domain's fine-grained access control ([`tweet_indexer_lambda::fgac`]). Runs
//! as the domain's master user, at deploy time only.

use std::time::SystemTime;

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;
use tweet_indexer_lambda::handler::deadline_from;
use tweet_indexer_lambda::{fgac, logging};

#[tokio::main]
async fn main() -> Result<(), Error> {
    logging::init();
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        let deadline = deadline_from(event.context.deadline(), SystemTime::now());
        // The outcome went to CloudFormation; an error here means it could not be sent.
        fgac::handle(&event.payload, deadline)
            .await
            .map_err(Error::from)
    }))
    .await
}
