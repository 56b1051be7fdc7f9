//! Prints the module dependency graph of a crate and its cycles (see `testkit::modules`):
//! `cargo run -p testkit --example module_graph -- crates/tweets [DEPTH]`; with `DEPTH` (1: the
//! crate's top-level modules) each module is counted as its ancestor at that depth.

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(dir) = args.next() else {
        eprintln!("usage: module_graph CRATE_DIR [DEPTH]");
        std::process::exit(2);
    };
    let graph = match testkit::modules::ModuleGraph::of_crate(&dir) {
        Ok(graph) => graph,
        Err(e) => {
            eprintln!("module_graph: {e}");
            std::process::exit(1);
        }
    };
    let graph = match args.next().map(|d| d.parse::<usize>()) {
        Some(Ok(depth)) => graph.collapsed(depth),
        Some(Err(e)) => {
            eprintln!("module_graph: DEPTH: {e}");
            std::process::exit(2);
        }
        None => graph,
    };
    print!("{}", graph.render());
}
