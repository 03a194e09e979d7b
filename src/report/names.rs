//! File names made from names in a scenario (services, swept values): safe on every file
//! system, bounded in length, and unique within a folder whatever the names are.

/// Stem of a training run's chart of the wait CDF per size class (no service can take it:
/// service charts end in `-timeseries`, and `training` is no service's name).
pub const TRAINING_WAIT_CDF: &str = "training-wait-cdf";

/// Stem of a training run's chart of GPUs allocated and jobs running and waiting over time.
pub const TRAINING_TIMESERIES: &str = "training-timeseries";

/// Stem of a control-plane run's chart of each priority level's calls dispatched, queued and
/// rejected over time (no service chart can take it: theirs end in `-timeseries`).
pub const CONTROL_PLANE_APF: &str = "control-plane-apf";

/// Stem of a control-plane run's chart of the watch bytes and API requests per second.
pub const CONTROL_PLANE_WATCH: &str = "control-plane-watch";

/// 64-bit FNV-1a: a stable hash (std's `DefaultHasher` may change between Rust releases, and
/// names and manifests written by one build must be read by another).
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Longest part of a file name taken from a name (a file name may have 255 bytes; the rest is
/// left for a prefix, a suffix and the extension).
pub const MAX_NAME_PART: usize = 64;

/// A file-name-safe form of `name`: ASCII letters, digits, `-` and `_` are kept, anything else
/// becomes `_`. A name that this changes, or that is longer than [`MAX_NAME_PART`], is cut to
/// that length and followed by `-` and 8 hex digits of a hash of the name as written, so that
/// `x/y` and `x_y` stay apart and a long name stays a valid file name.
pub fn file_safe(name: &str) -> String {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if safe == name && safe.len() <= MAX_NAME_PART && !safe.is_empty() {
        return safe;
    }
    let cut: String = safe.chars().take(MAX_NAME_PART).collect();
    format!("{cut}-{:08x}", fnv1a64(name.as_bytes()) as u32)
}

/// Makes `stems` unique, ignoring case (as macOS and Windows file systems do): a stem met
/// before gets `-2`, `-3`, ... in the order given, so the same charts always get the same names.
pub fn unique_stems<'a>(stems: impl Iterator<Item = &'a mut String>) {
    let mut seen = std::collections::BTreeSet::new();
    for stem in stems {
        if !seen.insert(stem.to_lowercase()) {
            let mut k = 2;
            while !seen.insert(format!("{stem}-{k}").to_lowercase()) {
                k += 1;
            }
            stem.push_str(&format!("-{k}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_matches_the_reference_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn safe_names_stay_and_others_get_a_hash() {
        assert_eq!(file_safe("resnet-50_a"), "resnet-50_a");
        let a = file_safe("x/y");
        assert!(a.starts_with("x_y-") && a.len() == 12, "{a}");
        assert_ne!(a, file_safe("x_y"));
        assert_ne!(file_safe("x/y"), file_safe("x y"));
        let long = file_safe(&"s".repeat(300));
        assert_eq!(long.len(), MAX_NAME_PART + 9);
        assert_ne!(long, file_safe(&"s".repeat(301)));
        assert_eq!(file_safe("é").len(), 10);
    }

    #[test]
    fn repeated_stems_are_numbered_ignoring_case() {
        let mut stems: Vec<String> = ["a", "A", "a", "a-2", "b"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        unique_stems(stems.iter_mut());
        assert_eq!(stems, ["a", "A-2", "a-3", "a-2-2", "b"]);
    }
}
