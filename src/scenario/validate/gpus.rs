//! `gpus:`: user-defined GPU profiles, added to the built-ins.

use super::{Errs, unique_names};
use crate::hardware::{self, GpuProfile};
use crate::scenario::types::Scenario;

/// `gpus:`: the built-in profiles followed by the scenario's own.
pub(super) fn resolve(e: &mut Errs, sc: &Scenario) -> Vec<GpuProfile> {
    unique_names(e, "gpus", sc.gpus.iter().map(|g| g.name.as_str()));
    let mut gpus: Vec<GpuProfile> = hardware::builtin_gpus();
    let builtin_gpu_count = gpus.len();
    for (i, g) in sc.gpus.iter().enumerate() {
        if gpus[..builtin_gpu_count].iter().any(|b| b.name == g.name) {
            e.at(
                &format!("gpus[{i}].name"),
                format!(
                    "`{}` is a built-in GPU profile; give yours another name (it may use `based_on: {}`)",
                    g.name, g.name
                ),
            );
            continue;
        }
        match g.resolve() {
            Ok(p) => gpus.push(p),
            Err(msg) => e.at(&format!("gpus[{i}]"), msg),
        }
    }
    gpus
}
