//! No import cycle between the modules of the crate (issue 28): what the stages share lives
//! below them (`indexer.rs` for the [`Indexer`](pipeline::Indexer) they all hold, `work.rs`
//! for the items an input hands the feed, `compliance_index.rs` for what the process knows of
//! `{index}_compliance`), so the per-object loop, the feed and the compliance I/O run one way.
//! `cargo run -p testkit --example module_graph -- crates/pipeline` prints the graph.

#[test]
fn modules_depend_on_each_other_in_no_cycle() {
    testkit::modules::assert_no_module_cycles(env!("CARGO_MANIFEST_DIR"));
}
