//! No import cycle between the modules of the crate (issue 28): each stage uses only the ones
//! below it (framing's files are layered too), and the types they share live in `error.rs`.
//! `cargo run -p testkit --example module_graph -- crates/tweets` prints the graph.

#[test]
fn modules_depend_on_each_other_in_no_cycle() {
    testkit::modules::assert_no_module_cycles(env!("CARGO_MANIFEST_DIR"));
}
