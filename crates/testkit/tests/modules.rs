//! No import cycle between the modules of the test kit either (issue 28): the X fake's wire
//! types and shared HTTP helpers (`xfake::wire`) sit below its endpoints and its batch jobs
//! (`xfake::jobs`), so neither reaches up into the other.
//! `cargo run -p testkit --example module_graph -- crates/testkit` prints the graph.

#[test]
fn modules_depend_on_each_other_in_no_cycle() {
    testkit::modules::assert_no_module_cycles(env!("CARGO_MANIFEST_DIR"));
}
