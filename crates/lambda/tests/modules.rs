//! No import cycle between the modules of the crate (issue 28): the invocation is parsed into
//! one typed event ([`events::Trigger`](tweet_indexer_lambda::events::Trigger)) below the
//! modules that index it, and the error they share lives in `event_error.rs`.
//! `cargo run -p testkit --example module_graph -- crates/lambda` prints the graph.

#[test]
fn modules_depend_on_each_other_in_no_cycle() {
    testkit::modules::assert_no_module_cycles(env!("CARGO_MANIFEST_DIR"));
}
