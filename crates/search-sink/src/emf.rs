//! CloudWatch Embedded Metric Format: one JSON object a line, which CloudWatch Logs turns into
//! metrics without any API call (no extra permission, no latency). The envelope is
//! `_aws.Timestamp` and one `CloudWatchMetrics` directive (namespace, one dimension set, each
//! metric's name and unit); the values, the dimensions' values and any other property sit at
//! the top level, where Logs Insights reads them as fields.
//!
//! The one writer of the workspace (the Lambda's per-object lines, the capture's per-minute
//! lines); it knows nothing of what the metrics count.

use serde_json::{Map, Value};

/// A metric's unit, as CloudWatch spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Bytes,
    Milliseconds,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Bytes => "Bytes",
            Unit::Milliseconds => "Milliseconds",
        }
    }
}

/// One EMF line being built: metrics (declared in the directive, in the order given, with their
/// value), then properties, then [`EmfLine::finish`].
#[derive(Debug)]
pub struct EmfLine {
    namespace: &'static str,
    dimensions: &'static [&'static str],
    root: Map<String, Value>,
    metrics: Vec<Value>,
}

impl EmfLine {
    /// A line in `namespace` with one dimension set: `dimensions`, each of which the caller
    /// gives a value with [`EmfLine::property`].
    pub fn new(namespace: &'static str, dimensions: &'static [&'static str]) -> Self {
        EmfLine {
            namespace,
            dimensions,
            root: Map::new(),
            metrics: Vec::new(),
        }
    }

    /// A metric: declared with its unit, and its value.
    pub fn metric(&mut self, name: &str, unit: Unit, value: u64) -> &mut Self {
        self.metrics
            .push(serde_json::json!({"Name": name, "Unit": unit.as_str()}));
        self.root.insert(name.to_owned(), value.into());
        self
    }

    /// A field that is no metric: a dimension's value, or context for Logs Insights.
    pub fn property(&mut self, name: &str, value: impl Into<Value>) -> &mut Self {
        self.root.insert(name.to_owned(), value.into());
        self
    }

    /// The line (no newline), stamped `timestamp_ms` (epoch milliseconds).
    pub fn finish(mut self, timestamp_ms: impl Into<Value>) -> String {
        self.root.insert(
            "_aws".into(),
            serde_json::json!({
                "Timestamp": timestamp_ms.into(),
                "CloudWatchMetrics": [{
                    "Namespace": self.namespace,
                    "Dimensions": [self.dimensions],
                    "Metrics": self.metrics,
                }],
            }),
        );
        Value::Object(self.root).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_declares_each_metric_and_carries_its_value() {
        let mut line = EmfLine::new("Space", &["Fn"]);
        line.metric("Things", Unit::Count, 3)
            .metric("Size", Unit::Bytes, 10)
            .property("Fn", "f")
            .property("note", "n");
        let line = line.finish(1_500);
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["Things"], 3);
        assert_eq!(v["Size"], 10);
        assert_eq!(v["Fn"], "f");
        assert_eq!(v["note"], "n");
        assert_eq!(v["_aws"]["Timestamp"], 1_500);
        let directive = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "Space");
        assert_eq!(directive["Dimensions"], serde_json::json!([["Fn"]]));
        assert_eq!(
            directive["Metrics"],
            serde_json::json!([
                {"Name": "Things", "Unit": "Count"},
                {"Name": "Size", "Unit": "Bytes"},
            ])
        );
        assert!(!line.contains('\n'));
    }
}
