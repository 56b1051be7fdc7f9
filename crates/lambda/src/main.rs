//! `tweet-indexer-lambda`: configuration and clients are built once per execution environment
//! (warm invocations reuse them); each invocation goes to [`Handler::handle`].

use lambda_runtime::{Error, LambdaEvent, service_fn};
use pipeline::{AuthorFilter, Indexer, S3Store};
use serde_json::Value;
use tweet_indexer_lambda::{Handler, logging};

#[tokio::main]
async fn main() -> Result<(), Error> {
    pipeline::memory::keep_large_buffers_out_of_the_heap();
    logging::init();
    // Fail the init phase with a message naming the variable, not on the first invocation.
    let config = search_sink::Config::from_env().inspect_err(|e| {
        lambda_runtime::tracing::error!(error = %e, "invalid configuration");
    })?;
    let store = S3Store::from_env().await;
    let follow = AuthorFilter::from_env().inspect_err(|e| {
        lambda_runtime::tracing::error!(error = %e, "invalid configuration");
    })?;
    let lifecycle = pipeline::lifecycle::Settings::from_env().inspect_err(|e| {
        lambda_runtime::tracing::error!(error = %e, "invalid configuration");
    })?;
    let indexer = Indexer::connect_with_s3(config, store.client().clone())
        .await?
        .with_author_filter(follow)
        .with_lifecycle(lifecycle);
    let archive = pipeline::archive::ArchiveSettings::from_env().inspect_err(|e| {
        lambda_runtime::tracing::error!(error = %e, "invalid configuration");
    })?;
    let indexer = match archive {
        Some(settings) => {
            indexer.with_archive(pipeline::archive::Archive::from_env(settings).await)
        }
        None => indexer,
    };
    let handler = Handler::new(store, indexer);
    let handler = &handler;
    // Boxed: the pipeline's future is deep, and the runtime nests it further.
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        Box::pin(async move { handler.handle(event.payload, &event.context).await })
    }))
    .await
}
