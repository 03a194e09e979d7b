//! The timeseries of a run. Each replication records one row of values per report interval
//! (a fixed slot per service metric and per cluster metric, NaN where nothing was measured)
//! into a [`Sink`]: kept in memory, dropped (runs that report summaries only), or spooled to
//! a file of its own, so that a long run's samples never sit in memory.
//!
//! [`merge`] then averages the rows over the replications that reached each sample, adding
//! them in replication order whatever order they finished in, and hands the means on one
//! sample at a time: a spooled run is read back in chunks of [`CHUNK_VALUES`] values, so
//! memory stays flat however many samples and replications there are, and the result is the
//! same at any thread count.

use super::plan::Plan;
use super::result::ts_metric;
use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Slots of one service in a row: one per service metric code (0 to 11).
pub const SERVICE_SLOTS: usize = 12;

/// The cluster's metric codes, in the order of its slots (ascending, as timeseries.csv lists
/// them).
pub const CLUSTER_CODES: [u8; 5] = [
    ts_metric::PENDING_PODS,
    ts_metric::NODES,
    ts_metric::NODES_PROVISIONING,
    ts_metric::GPUS_ALLOCATED,
    ts_metric::NODES_READY,
];

/// Training's metric codes, in the order of its slots after the cluster's (ascending). A run
/// without training has no such slots, so its rows are what they were before training came.
pub const TRAINING_CODES: [u8; 4] = [
    ts_metric::GPUS_ALLOCATED,
    ts_metric::JOBS_RUNNING,
    ts_metric::JOBS_WAITING,
    ts_metric::FRAGMENTATION,
];

/// The `apiserver` component's metric codes, in the order of its slots after training's (or
/// the cluster's). A run without a control plane has none of the control plane's slots, so
/// its rows are what they were before the control plane came.
pub const APISERVER_CODES: [u8; 4] = [
    ts_metric::REQUESTS_RPS,
    ts_metric::MUTATING_LATENCY_P99_MS,
    ts_metric::WATCH_BYTES_PER_S,
    ts_metric::MEMORY_GIB,
];

/// Each `apf/<level>` component's metric codes, in the order of its slots; the levels follow
/// the `apiserver` component in the order of [`APF_COMPONENTS`].
pub const APF_CODES: [u8; 4] = [
    ts_metric::QUEUE_LENGTH,
    ts_metric::DISPATCHED_RPS,
    ts_metric::REJECTED_RPS,
    ts_metric::SEATS_IN_USE,
];

/// The `etcd` component's metric codes, in the order of its slots after the levels'.
pub const ETCD_CODES: [u8; 2] = [ts_metric::WRITES_PER_S, ts_metric::DB_SIZE_GIB];

/// The priority levels' components, in the order of their slots.
pub use crate::apiserver::APF_COMPONENTS;

/// Slots of the control plane in a row: `apiserver`, every priority level, `etcd`.
pub const CONTROL_PLANE_SLOTS: usize =
    APISERVER_CODES.len() + APF_COMPONENTS.len() * APF_CODES.len() + ETCD_CODES.len();

/// Which parts a row holds slots for, beside the services and the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Services, in scenario order.
    pub services: usize,
    /// Training's slots.
    pub training: bool,
    /// The control plane's slots.
    pub control_plane: bool,
}

impl Layout {
    /// The layout of `plan`'s rows.
    pub fn of(plan: &Plan) -> Layout {
        Layout {
            services: plan.services.len(),
            training: plan.training.is_some(),
            control_plane: plan.control_plane.is_some(),
        }
    }

    /// Values in one row.
    pub fn row_len(self) -> usize {
        self.control_base()
            + if self.control_plane {
                CONTROL_PLANE_SLOTS
            } else {
                0
            }
    }

    /// The first slot of the control plane: after the services', the cluster's and
    /// training's.
    fn control_base(self) -> usize {
        self.services * SERVICE_SLOTS
            + CLUSTER_CODES.len()
            + if self.training {
                TRAINING_CODES.len()
            } else {
                0
            }
    }

    /// The slot of the `apiserver` component's metric `code` (with a control plane).
    #[inline]
    pub fn apiserver_slot(self, code: u8) -> usize {
        self.control_base() + position(&APISERVER_CODES, code)
    }

    /// The slot of priority level `level`'s metric `code` (with a control plane).
    #[inline]
    pub fn apf_slot(self, level: usize, code: u8) -> usize {
        self.control_base()
            + APISERVER_CODES.len()
            + level.min(APF_COMPONENTS.len() - 1) * APF_CODES.len()
            + position(&APF_CODES, code)
    }

    /// The slot of the `etcd` component's metric `code` (with a control plane).
    #[inline]
    pub fn etcd_slot(self, code: u8) -> usize {
        self.control_base()
            + APISERVER_CODES.len()
            + APF_COMPONENTS.len() * APF_CODES.len()
            + position(&ETCD_CODES, code)
    }

    /// The component and metric code of `slot`.
    pub fn slot_key(self, slot: usize) -> (Component, u8) {
        let cluster = self.services * SERVICE_SLOTS;
        let training = cluster + CLUSTER_CODES.len();
        let base = self.control_base();
        if slot < cluster {
            return (
                Component::Service(slot / SERVICE_SLOTS),
                (slot % SERVICE_SLOTS) as u8,
            );
        } else if slot < training {
            return (Component::Cluster, CLUSTER_CODES[slot - cluster]);
        } else if slot < base {
            return (Component::Training, TRAINING_CODES[slot - training]);
        }
        let k = slot - base;
        let levels = APF_COMPONENTS.len() * APF_CODES.len();
        if k < APISERVER_CODES.len() {
            (Component::Apiserver, APISERVER_CODES[k])
        } else if k < APISERVER_CODES.len() + levels {
            let j = k - APISERVER_CODES.len();
            (
                Component::Apf(j / APF_CODES.len()),
                APF_CODES[j % APF_CODES.len()],
            )
        } else {
            let j = (k - APISERVER_CODES.len() - levels).min(ETCD_CODES.len() - 1);
            (Component::Etcd, ETCD_CODES[j])
        }
    }
}

/// Where `code` is in `codes` (0 if it is not: callers pass the codes listed).
fn position(codes: &[u8], code: u8) -> usize {
    codes.iter().position(|&c| c == code).unwrap_or(0)
}

/// A component of a timeseries row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Component {
    /// Service `.0`, in scenario order.
    Service(usize),
    /// `cluster`.
    Cluster,
    /// `training`.
    Training,
    /// `apiserver`.
    Apiserver,
    /// `apf/<level>`, the level by its index in [`APF_COMPONENTS`].
    Apf(usize),
    /// `etcd`.
    Etcd,
}

/// The slot of metric `code` of service `service`.
#[inline]
pub fn service_slot(service: usize, code: u8) -> usize {
    service * SERVICE_SLOTS + code as usize
}

/// The slot of the cluster's metric `code` in a row of `services` services.
#[inline]
pub fn cluster_slot(services: usize, code: u8) -> usize {
    services * SERVICE_SLOTS + position(&CLUSTER_CODES, code)
}

/// The slot of training's metric `code` in a row of `services` services (with training).
#[inline]
pub fn training_slot(services: usize, code: u8) -> usize {
    services * SERVICE_SLOTS + CLUSTER_CODES.len() + position(&TRAINING_CODES, code)
}

/// Values read back per chunk when merging: the chunk's sums and counts take 12 bytes per
/// value, so about 12 MB whatever the run.
pub const CHUNK_VALUES: usize = 1 << 20;

/// Where a replication's rows go.
#[derive(Debug)]
pub enum Sink {
    /// Rows kept in memory, one after the other.
    Keep(Vec<f64>),
    /// Rows not kept (summaries only).
    Drop,
    /// Rows written to a file, little-endian f64s, one row after the other.
    Spool(Spool),
}

/// A replication's spool file, with the first error met writing it (later rows are skipped:
/// the run reports the error once it is over).
#[derive(Debug)]
pub struct Spool {
    out: BufWriter<File>,
    error: Option<std::io::Error>,
}

impl Spool {
    /// Creates (or truncates) the spool file `path`.
    pub fn create(path: &Path) -> std::io::Result<Spool> {
        Ok(Spool {
            out: BufWriter::with_capacity(1 << 16, File::create(path)?),
            error: None,
        })
    }

    /// Flushes the file; the first error met while writing, if any.
    pub fn finish(mut self) -> std::io::Result<()> {
        match self.error.take() {
            Some(e) => Err(e),
            None => self.out.flush(),
        }
    }
}

impl Sink {
    /// Records one row.
    pub fn push(&mut self, row: &[f64]) {
        match self {
            Sink::Keep(v) => v.extend_from_slice(row),
            Sink::Drop => {}
            Sink::Spool(s) => {
                if s.error.is_none() {
                    let mut bytes = [0u8; 8 * 32];
                    for chunk in row.chunks(32) {
                        for (b, x) in bytes.chunks_exact_mut(8).zip(chunk) {
                            b.copy_from_slice(&x.to_le_bytes());
                        }
                        if let Err(e) = s.out.write_all(&bytes[..8 * chunk.len()]) {
                            s.error = Some(e);
                            return;
                        }
                    }
                }
            }
        }
    }

    /// The rows kept ([`Sink::Keep`]); empty otherwise.
    pub fn into_rows(self) -> Vec<f64> {
        match self {
            Sink::Keep(v) => v,
            _ => Vec::new(),
        }
    }
}

/// The spool file of replication `rep` in `dir`.
pub fn spool_path(dir: &Path, rep: u32) -> PathBuf {
    dir.join(format!("timeseries-{rep:06}.f64"))
}

/// Reads rows `first..first + count` of replication `rep` (fewer where it stopped early) into
/// `buf`, as [`merge`] asks for them.
pub type Fetch<'a> = dyn FnMut(u32, u64, usize, &mut Vec<f64>) -> std::io::Result<()> + 'a;

/// Reads rows of a spool file written by [`Sink::Spool`].
pub fn read_spooled(
    path: &Path,
    row_len: usize,
    first: u64,
    count: usize,
    buf: &mut Vec<f64>,
) -> std::io::Result<()> {
    let mut f = File::open(path)?;
    let width = 8 * row_len as u64;
    f.seek(SeekFrom::Start(first * width))?;
    let mut bytes = Vec::with_capacity(count * row_len * 8);
    f.take(count as u64 * width).read_to_end(&mut bytes)?;
    // A row cut short (a full disk) is left out.
    let whole = bytes.len() / (8 * row_len) * (8 * row_len);
    buf.extend(
        bytes[..whole]
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().unwrap_or([0; 8]))),
    );
    Ok(())
}

/// Reads rows of an in-memory [`Sink::Keep`] record.
pub fn read_kept(rows: &[f64], row_len: usize, first: u64, count: usize, buf: &mut Vec<f64>) {
    let from = (first as usize).saturating_mul(row_len).min(rows.len());
    let to = from.saturating_add(count * row_len).min(rows.len());
    buf.extend_from_slice(&rows[from..to]);
}

/// Averages `reps` replications' rows of `row_len` values sample by sample: for each sample
/// (from 1) that some replication reached, `emit(sample, means)` gets each slot's mean over
/// the replications with a finite value there (summed in replication order), NaN where there
/// is none. `fetch(rep, first, count, buf)` appends rows `first..first + count` (from 0) of
/// replication `rep`, fewer if it has fewer.
pub fn merge(
    row_len: usize,
    reps: u32,
    fetch: &mut Fetch,
    emit: &mut dyn FnMut(u32, &[f64]) -> std::io::Result<()>,
) -> std::io::Result<()> {
    merge_in_chunks(CHUNK_VALUES, row_len, reps, fetch, emit)
}

/// [`merge`], reading about `chunk_values` values at a time.
fn merge_in_chunks(
    chunk_values: usize,
    row_len: usize,
    reps: u32,
    fetch: &mut Fetch,
    emit: &mut dyn FnMut(u32, &[f64]) -> std::io::Result<()>,
) -> std::io::Result<()> {
    if row_len == 0 {
        return Ok(());
    }
    let chunk_rows = (chunk_values / row_len).max(1);
    let mut sums = vec![0.0f64; chunk_rows * row_len];
    let mut counts = vec![0u32; chunk_rows * row_len];
    let mut means = vec![0.0f64; row_len];
    let mut buf = Vec::new();
    let mut first = 0u64;
    loop {
        sums.fill(0.0);
        counts.fill(0);
        let mut rows_here = 0;
        for rep in 0..reps {
            buf.clear();
            fetch(rep, first, chunk_rows, &mut buf)?;
            rows_here = rows_here.max(buf.len() / row_len);
            for ((s, n), &v) in sums.iter_mut().zip(counts.iter_mut()).zip(&buf) {
                if v.is_finite() {
                    *s += v;
                    *n += 1;
                }
            }
        }
        for r in 0..rows_here {
            let at = r * row_len;
            for (k, m) in means.iter_mut().enumerate() {
                let n = counts[at + k];
                *m = if n > 0 {
                    sums[at + k] / n as f64
                } else {
                    f64::NAN
                };
            }
            emit((first + r as u64 + 1) as u32, &means)?;
        }
        if rows_here < chunk_rows {
            return Ok(());
        }
        first += chunk_rows as u64;
    }
}

/// One averaged timeseries value, as timeseries.csv lists it.
#[derive(Debug, Clone, Copy)]
pub struct TsRow<'a> {
    /// Sample number, from 1.
    pub sample: u32,
    /// End of the report interval, seconds.
    pub time_s: f64,
    /// Service name or `cluster`.
    pub component: &'a str,
    /// Metric name.
    pub metric: &'static str,
    /// Mean over the replications that measured it.
    pub value: f64,
}

/// Turns each averaged sample of [`merge`] into the rows of timeseries.csv: the finite slots,
/// component by component in scenario order (then the cluster, training, `apiserver`, the
/// `apf/<level>`s and `etcd`), metric codes ascending.
pub fn for_each_row(
    plan: &Plan,
    sample: u32,
    means: &[f64],
    on_row: &mut dyn FnMut(&TsRow) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let layout = Layout::of(plan);
    let time_s = sample as f64 * plan.report_interval.as_secs_f64();
    for (slot, &value) in means.iter().enumerate() {
        if value.is_finite() {
            let (comp, code) = layout.slot_key(slot);
            let component = match comp {
                Component::Service(s) => plan.services[s].name.as_str(),
                Component::Cluster => "cluster",
                Component::Training => "training",
                Component::Apiserver => "apiserver",
                Component::Apf(l) => APF_COMPONENTS[l],
                Component::Etcd => "etcd",
            };
            on_row(&TsRow {
                sample,
                time_s,
                component,
                metric: ts_metric::NAMES[code as usize],
                value,
            })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_map_back_to_their_component_and_metric() {
        for (training, control_plane) in
            [(false, false), (true, false), (false, true), (true, true)]
        {
            let l = Layout {
                services: 3,
                training,
                control_plane,
            };
            for s in 0..3 {
                for code in 0..SERVICE_SLOTS as u8 {
                    assert_eq!(
                        l.slot_key(service_slot(s, code)),
                        (Component::Service(s), code)
                    );
                }
            }
            for code in CLUSTER_CODES {
                assert_eq!(
                    l.slot_key(cluster_slot(3, code)),
                    (Component::Cluster, code)
                );
            }
            if training {
                for code in TRAINING_CODES {
                    assert_eq!(
                        l.slot_key(training_slot(3, code)),
                        (Component::Training, code)
                    );
                }
            }
            if control_plane {
                for code in APISERVER_CODES {
                    assert_eq!(
                        l.slot_key(l.apiserver_slot(code)),
                        (Component::Apiserver, code)
                    );
                }
                for level in 0..APF_COMPONENTS.len() {
                    for code in APF_CODES {
                        assert_eq!(
                            l.slot_key(l.apf_slot(level, code)),
                            (Component::Apf(level), code)
                        );
                    }
                }
                for code in ETCD_CODES {
                    assert_eq!(l.slot_key(l.etcd_slot(code)), (Component::Etcd, code));
                }
                // The control plane's slots come last.
                assert_eq!(l.etcd_slot(ts_metric::DB_SIZE_GIB), l.row_len() - 1);
            }
            let want = 41 + if training { 4 } else { 0 } + if control_plane { 38 } else { 0 };
            assert_eq!(l.row_len(), want);
            // Every slot of a row has a key of its own, and the keys of each component
            // ascend with its slots (timeseries.csv lists a component's metrics by code).
            let keys: Vec<(Component, u8)> = (0..l.row_len()).map(|k| l.slot_key(k)).collect();
            let set: std::collections::BTreeSet<&(Component, u8)> = keys.iter().collect();
            assert_eq!(set.len(), want);
            assert!(keys.windows(2).all(|w| w[0] < w[1]), "{keys:?}");
        }
    }

    /// The means of several replications of unequal length, across chunk boundaries, equal
    /// the sums taken one sample at a time in replication order.
    #[test]
    fn merging_in_chunks_averages_each_sample_over_the_replications_that_reached_it() {
        let row_len = 7;
        let chunk = 2 * row_len + 3; // two rows per chunk
        let lens = [5usize, 2, 0, 4];
        let value = |rep: usize, row: usize, k: usize| {
            if (rep + row + k).is_multiple_of(7) {
                f64::NAN
            } else {
                (rep * 10 + row) as f64 + 0.1 * k as f64
            }
        };
        let reps: Vec<Vec<f64>> = lens
            .iter()
            .enumerate()
            .map(|(rep, &n)| {
                (0..n)
                    .flat_map(|row| (0..row_len).map(move |k| value(rep, row, k)))
                    .collect()
            })
            .collect();
        let mut seen = Vec::new();
        merge_in_chunks(
            chunk,
            row_len,
            reps.len() as u32,
            &mut |rep, first, count, buf| {
                read_kept(&reps[rep as usize], row_len, first, count, buf);
                Ok(())
            },
            &mut |sample, means| {
                seen.push((sample, means[0], means[row_len - 1]));
                Ok(())
            },
        )
        .unwrap();
        let expect = |row: usize, k: usize| {
            let (mut s, mut n) = (0.0, 0);
            for (rep, &len) in lens.iter().enumerate() {
                let v = value(rep, row, k);
                if row < len && v.is_finite() {
                    s += v;
                    n += 1;
                }
            }
            if n > 0 { s / n as f64 } else { f64::NAN }
        };
        assert_eq!(seen.len(), 5);
        for (row, &(sample, first, last)) in seen.iter().enumerate() {
            assert_eq!(sample as usize, row + 1);
            for (got, k) in [(first, 0), (last, row_len - 1)] {
                let want = expect(row, k);
                assert!(
                    got == want || (got.is_nan() && want.is_nan()),
                    "{got} {want}"
                );
            }
        }
    }

    #[test]
    fn a_spooled_row_reads_back_bit_for_bit() {
        let dir = std::env::temp_dir().join(format!("capsim-spool-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = spool_path(&dir, 3);
        let rows: Vec<f64> = (0..70).map(|i| i as f64 / 3.0 - 5.0).collect();
        let mut sink = Sink::Spool(Spool::create(&path).unwrap());
        for r in rows.chunks(35) {
            sink.push(r);
        }
        let Sink::Spool(s) = sink else { unreachable!() };
        s.finish().unwrap();
        let mut buf = Vec::new();
        read_spooled(&path, 35, 1, 5, &mut buf).unwrap();
        assert_eq!(buf, rows[35..]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
