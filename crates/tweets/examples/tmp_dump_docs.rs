// TEMPORARY (not to be committed): dumps every item for a before/after byte-identity check.
use std::io::Write;
fn main() {
    let ex = tweets::Extractor::new(tweets::ExtractorOptions::default());
    let mut out = std::io::BufWriter::new(std::io::stdout());
    for path in std::env::args().skip(1) {
        let bytes = std::fs::read(&path).unwrap();
        for item in ex.items(&bytes[..]) {
            match item {
                tweets::Item::Document {
                    id,
                    offset,
                    doc,
                    warnings,
                } => {
                    writeln!(
                        out,
                        "D {id} {offset} {} {:?}",
                        doc.timestamp_ms.unwrap_or(-1),
                        warnings
                    )
                    .unwrap();
                    out.write_all(&doc.to_json()).unwrap();
                    writeln!(out).unwrap();
                }
                other => writeln!(out, "{other:?}").unwrap(),
            }
        }
        // Also per-record path used by the pipeline.
        let mut framer = tweets::Framer::new(&bytes[..]);
        let mut v = Vec::new();
        while let Some(r) = framer.next() {
            if let Ok(rec) = r {
                ex.record_items(&rec, &mut v);
            }
        }
        for item in v {
            match item {
                tweets::Item::Document { doc, warnings, .. } => {
                    writeln!(out, "R {:?}", warnings).unwrap();
                    out.write_all(&doc.to_json()).unwrap();
                    writeln!(out).unwrap();
                }
                other => writeln!(out, "{other:?}").unwrap(),
            }
        }
    }
}
