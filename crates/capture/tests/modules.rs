//! No import cycle between the modules of the crate (issue 28): `class` (what kind of failure)
//! and `record` (a stream line and its ids) at the bottom, the `queue` above them, the readers
//! (`stream`, `rules`, `comply`) and the sinks (their shared `error` and the AWS sinks' `aws`
//! below them) above that, `run` (a capture: reader, queue and sink) above those, and `exit`
//! (the exit code of any of their errors) at the top. `lib.rs` only declares and re-exports.
//! The binary's modules are layered too: `args` (the command line), `config` (flags and
//! variables into the library's settings), `commands` (the subcommands) and `main`.
//! `cargo run -p testkit --example module_graph -- crates/capture` prints the graph.

#[test]
fn modules_depend_on_each_other_in_no_cycle() {
    testkit::modules::assert_no_module_cycles(env!("CARGO_MANIFEST_DIR"));
}
