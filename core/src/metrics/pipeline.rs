//! What the pipeline thread counts: messages by class, and each stage's errors and panics. The
//! thread owns these (moved in with the pipeline), so counting takes no lock.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

use super::classes::ClassTable;
use super::labels::{ClassLabels, PluginLabels};

/// One stage's fault counters.
#[derive(Debug, Clone)]
pub struct StageFaults {
    /// Errors the plugin returned.
    pub errors: Counter,
    /// Panics (at most one: the plugin is disabled after it).
    pub panics: Counter,
}

/// The pipeline thread's counters.
#[derive(Debug)]
pub struct PipelineMetrics {
    /// Messages by class and direction.
    pub classes: ClassTable,
    /// Per stage, in pipeline order.
    pub stages: Vec<StageFaults>,
}

impl PipelineMetrics {
    /// Counters for the stages labelled `labels`, each series created at 0, so that a stage
    /// shows from the first scrape and `increase()` sees its first error.
    pub fn new(
        classes: Family<ClassLabels, Counter>,
        errors: &Family<PluginLabels, Counter>,
        panics: &Family<PluginLabels, Counter>,
        labels: &[String],
    ) -> PipelineMetrics {
        let stages = labels
            .iter()
            .map(|label| {
                let labels = PluginLabels { plugin: label.clone() };
                StageFaults {
                    errors: errors.get_or_create_owned(&labels),
                    panics: panics.get_or_create_owned(&labels),
                }
            })
            .collect();
        PipelineMetrics { classes: ClassTable::new(classes), stages }
    }
}
