//! No import cycle between the modules of the binary (issue 28): `args` (the command line) at
//! the bottom, `config` (flags and variables into the libraries' settings) and `exit` (the
//! statuses) above it, the subcommands (`index`, `dry_run`, `lifecycle`, ...) above those, and
//! `run` dispatching to them. `cargo run -p testkit --example module_graph -- crates/cli`
//! prints the graph.

#[test]
fn modules_depend_on_each_other_in_no_cycle() {
    testkit::modules::assert_no_module_cycles(env!("CARGO_MANIFEST_DIR"));
}
