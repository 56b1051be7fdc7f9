//! No import cycle between the modules of the crate (issue 28): the stages run one way, as
//! Vector's elasticsearch sink keeps them (configuration, then request building, delivery and
//! the retry policy), and the types they share live below them (`error.rs` for the errors,
//! `report.rs` for the counts, `deadline.rs` for fitting a retry into the deadline).
//! `cargo run -p testkit --example module_graph -- crates/search-sink` prints the graph.

#[test]
fn modules_depend_on_each_other_in_no_cycle() {
    testkit::modules::assert_no_module_cycles(env!("CARGO_MANIFEST_DIR"));
}
