//! No import cycle between the modules of the crate (issue 28): one module per stage, each
//! using only the ones below it, and the result types (`Scores`, `Label`) in `scores.rs`.
//! `cargo run -p testkit --example module_graph -- crates/vader` prints the graph.

#[test]
fn modules_depend_on_each_other_in_no_cycle() {
    testkit::modules::assert_no_module_cycles(env!("CARGO_MANIFEST_DIR"));
}
