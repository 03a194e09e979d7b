//! etcd as the API servers see it: a leader that commits writes in batches.
//!
//! The leader's raft loop takes every proposal that arrived since its last turn, appends them
//! to its write-ahead log with one fsync and waits for a majority of members to do the same
//! (group commit). A batch costs a fixed commit latency (the fsync plus the quorum round
//! trip), the time to write its bytes at the disk's bandwidth, and a serial apply cost per
//! write (the MVCC store). While a batch commits, new writes wait for the next one, which
//! starts when it ends; an idle leader starts a batch as soon as a write arrives.
//!
//! Calibration (etcd v3.6 operations guide, "Performance", 3 members, 8 vCPUs, SSD
//! persistent disk): one client writing one key at a time gets 583 writes/s at 1.6 ms, so a
//! batch of one costs 1.6 ms; 1,000 clients get 44,341 writes/s at 22 ms, i.e. batches of
//! about 1,000 writes every 22 ms, so each write adds (22 - 1.6) ms / 1,000 = 20.4 us.
//!
//! The database grows with the live objects and the revisions kept since the API server's
//! last compaction (every 5 min, `--etcd-compaction-interval`, keeping the revisions of the
//! interval before); bbolt never gives pages back to the file system, so the size is the
//! high-water mark. Past `--quota-backend-bytes` etcd raises its NOSPACE alarm and refuses
//! every write until an operator defragments it and disarms the alarm, which a run does not
//! model: the writes of the rest of the run are refused.

use super::plan::EtcdPlan;
use crate::engine::SimTime;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// How often etcd's backend (bbolt) commits the pages the writes dirtied
/// (`--backend-batch-interval`, 100 ms).
pub const BACKEND_INTERVAL: SimTime = SimTime::from_millis(100);
/// bbolt's page (the OS page, 4 KiB).
const PAGE_BYTES: u32 = 4096;

/// The API server's compaction period (kube-apiserver `--etcd-compaction-interval`, 5 min).
pub const COMPACTION_INTERVAL: SimTime = SimTime::from_secs(300);

/// A write waiting for its batch: when it reached the leader, the call it belongs to, its
/// bytes.
type Waiting = Reverse<(SimTime, u32, u32)>;

/// What [`Etcd::commit`] found.
pub enum Committed {
    /// The batch's writes are committed now (their calls, in arrival order, are in the
    /// buffer passed in); the next batch ends at `.0` if there is one.
    Done(Option<SimTime>),
    /// The batch grew after its end was scheduled: it ends at `.0` instead.
    Later(SimTime),
}

/// The leader's state.
#[derive(Debug)]
pub struct Etcd {
    plan: EtcdPlan,
    /// Writes not yet in a committed batch, by arrival at the leader.
    waiting: BinaryHeap<Waiting>,
    /// Start of the batch committing now (None: idle).
    batch_start: Option<SimTime>,
    /// The end its commit event is scheduled at.
    batch_end: SimTime,
    /// Live object bytes in the key space.
    pub live_bytes: f64,
    /// Bytes written since the last compaction, and in the interval before.
    history: [f64; 2],
    /// When the next compaction is due.
    next_compaction: SimTime,
    /// The database file's size (its high-water mark).
    pub db_bytes: f64,
    /// Writes committed, and refused for lack of space, since the warm-up.
    pub writes: u64,
    /// Writes refused since the warm-up.
    pub refused: u64,
    /// The NOSPACE alarm is raised.
    pub nospace: bool,
    /// Bytes read by quorum reads since the warm-up.
    pub read_bytes: f64,
    /// Ends of the reads the leader's CPU serves now.
    reads: BinaryHeap<Reverse<SimTime>>,
    /// Where the current batch's fsync starts (after the disk is free).
    batch_fsync: SimTime,
    /// Pages dirtied since the backend's last commit.
    dirty_pages: f64,
    /// The backend's next commit.
    next_backend: SimTime,
    /// Until when the backend's last commit holds the disk.
    disk_free: SimTime,
    /// The last batch's writes, bytes and busy count (see `batch_time`), and its time.
    last_batch: ((u64, u64, u64), SimTime),
}

/// The leader's CPU cores (the operations guide's benchmark machines: 8 vCPUs).
const ETCD_CORES: u64 = 8;
/// CPU per byte a range read returns: KEP-2340 measured etcd at 3.57 cores serving one LIST
/// per second of 300,000 objects of 1 KB, i.e. 300 MB/s: 11.9 ns per byte.
const READ_NS_PER_BYTE: f64 = 11.9;

impl Etcd {
    /// An idle leader of an empty store.
    pub fn new(plan: EtcdPlan) -> Etcd {
        Etcd {
            plan,
            waiting: BinaryHeap::new(),
            batch_start: None,
            batch_end: SimTime::ZERO,
            live_bytes: 0.0,
            history: [0.0; 2],
            next_compaction: COMPACTION_INTERVAL,
            db_bytes: 0.0,
            writes: 0,
            refused: 0,
            nospace: false,
            read_bytes: 0.0,
            reads: BinaryHeap::new(),
            batch_fsync: SimTime::ZERO,
            dirty_pages: 0.0,
            next_backend: BACKEND_INTERVAL,
            disk_free: SimTime::ZERO,
            last_batch: ((0, 0, 0), SimTime::ZERO),
        }
    }

    /// Objects already stored when the run starts (they count in the database's size).
    pub fn preload(&mut self, bytes: f64) {
        self.live_bytes += bytes;
        self.db_bytes = self.db_bytes.max(self.live_bytes);
        if self.db_bytes > self.plan.quota_bytes as f64 {
            self.nospace = true;
        }
    }

    /// When an fsync wanted at `t` can start: the backend's commits due by then write their
    /// dirty pages at the disk's IOPS, and the WAL waits for the disk.
    fn disk_ready(&mut self, t: SimTime) -> SimTime {
        while self.next_backend <= t {
            if self.dirty_pages == 0.0 {
                // Nothing to write: skip to the first commit after `t`.
                let k = (t.0 - self.next_backend.0) / BACKEND_INTERVAL.0 + 1;
                self.next_backend = SimTime(self.next_backend.0 + k * BACKEND_INTERVAL.0);
                break;
            }
            let begin = self.next_backend.max(self.disk_free);
            let pages = std::mem::take(&mut self.dirty_pages);
            self.disk_free = begin + SimTime::from_secs_f64(pages / self.plan.iops);
            self.next_backend = self.next_backend + BACKEND_INTERVAL;
        }
        t.max(self.disk_free)
    }

    /// How long a batch of `n` writes of `bytes` in all takes to commit. Applying them
    /// shares the leader's CPU with the reads it serves.
    fn batch_time(&mut self, n: u64, bytes: u64) -> SimTime {
        let busy = self.reads.len() as u64 + 1;
        // Most batches are one write like the last (a lease renewal): the same time.
        let key = (n, bytes, busy);
        if self.last_batch.0 == key {
            return self.last_batch.1;
        }
        let disk = bytes as f64 / self.plan.disk_bandwidth;
        let apply = self.plan.per_write.0 * n * busy.max(ETCD_CORES) / ETCD_CORES;
        let t = self.plan.commit_latency + SimTime(apply) + SimTime::from_secs_f64(disk);
        self.last_batch = (key, t);
        t
    }

    /// Whether a write of `bytes` would be refused now (the NOSPACE alarm is raised).
    pub fn refuses(&self) -> bool {
        self.nospace
    }

    /// A write of `bytes` for call `call` reaches the leader at `at` (now or later). Returns
    /// the time a commit event must be scheduled at, when the leader was idle.
    pub fn submit(&mut self, at: SimTime, call: u32, bytes: u32) -> Option<SimTime> {
        self.waiting.push(Reverse((at, call, bytes)));
        match self.batch_start {
            None => {
                // The batch starts when this write arrives; those arriving at the same
                // instant join it (the commit event gathers them).
                self.batch_start = Some(at);
                self.batch_fsync = self.disk_ready(at);
                self.batch_end = self.batch_fsync + self.batch_time(1, u64::from(bytes));
                Some(self.batch_end)
            }
            Some(start) if at < start => {
                // Reaches the leader before the scheduled batch starts: it joins it, and
                // the commit event finds the batch longer (see `commit`).
                self.batch_start = Some(at);
                self.batch_fsync = self.batch_fsync.min(at.max(self.disk_free));
                None
            }
            Some(_) => None,
        }
    }

    /// The commit event at `now`: moves the calls of the batch into `out` and starts the
    /// next batch with the writes that arrived meanwhile.
    pub fn commit(&mut self, now: SimTime, out: &mut Vec<u32>) -> Committed {
        let Some(start) = self.batch_start else {
            return Committed::Done(None);
        };
        if now != self.batch_end {
            // A stale event (the batch was rescheduled).
            return Committed::Done(None);
        }
        let (n, bytes) = self.members(start);
        let end = (self.batch_fsync + self.batch_time(n, bytes)).max(now);
        if end > now {
            self.batch_end = end;
            return Committed::Later(end);
        }
        out.clear();
        while let Some(&Reverse((at, call, b))) = self.waiting.peek() {
            if at > start {
                break;
            }
            self.waiting.pop();
            out.push(call);
            self.history[0] += f64::from(b);
            // A write rewrites the leaf pages holding its value, and a branch page.
            self.dirty_pages += f64::from(b.div_ceil(PAGE_BYTES) + 1);
        }
        self.writes += out.len() as u64;
        self.compact_until(now);
        // The next batch: what arrived during this one starts now; else the next arrival.
        match self.waiting.peek() {
            None => {
                self.batch_start = None;
                Committed::Done(None)
            }
            Some(&Reverse((at, _, _))) => {
                let s = at.max(now);
                let (n, b) = self.members(s);
                self.batch_start = Some(s);
                self.batch_fsync = self.disk_ready(s);
                self.batch_end = self.batch_fsync + self.batch_time(n, b);
                Committed::Done(Some(self.batch_end))
            }
        }
    }

    /// Writes that belong to a batch starting at `start`, and their bytes.
    fn members(&self, start: SimTime) -> (u64, u64) {
        // The heap is small (the writes of one or two batches): a scan is cheaper than
        // keeping a second structure.
        self.waiting
            .iter()
            .filter(|w| w.0.0 <= start)
            .fold((0, 0), |(n, b), w| (n + 1, b + u64::from(w.0.2)))
    }

    /// Applies the compactions due by `now` and updates the database size.
    fn compact_until(&mut self, now: SimTime) {
        while now >= self.next_compaction {
            self.history = [0.0, self.history[0]];
            self.next_compaction = self.next_compaction + COMPACTION_INTERVAL;
        }
        let size = self.live_bytes + self.history[0] + self.history[1];
        self.db_bytes = self.db_bytes.max(size);
        if self.db_bytes > self.plan.quota_bytes as f64 {
            self.nospace = true;
        }
    }

    /// Live bytes change by `delta` (an object created, resized or deleted).
    pub fn resize(&mut self, delta: f64) {
        self.live_bytes = (self.live_bytes + delta).max(0.0);
    }

    /// A quorum read of `bytes` from `now` (a linearizable range read: the leader confirms
    /// its leadership with a quorum round trip, then reads its store on its CPU, shared with
    /// the other reads and the writes' apply). Returns when it is served.
    pub fn read(&mut self, now: SimTime, bytes: f64) -> SimTime {
        while self.reads.peek().is_some_and(|r| r.0 <= now) {
            self.reads.pop();
        }
        self.read_bytes += bytes;
        let busy = self.reads.len() as u64 + 1;
        let cpu = bytes * READ_NS_PER_BYTE * busy.max(ETCD_CORES) as f64 / ETCD_CORES as f64;
        // The round trip: about half a commit, which also pays the fsync.
        let end = now + SimTime(self.plan.commit_latency.0 / 2) + SimTime(cpu as u64);
        self.reads.push(Reverse(end));
        end
    }

    /// Writes waiting or committing now.
    pub fn backlog(&self) -> usize {
        self.waiting.len()
    }

    /// Resets the counters at the end of the warm-up.
    pub fn warmup_end(&mut self) {
        self.writes = 0;
        self.refused = 0;
        self.read_bytes = 0.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> EtcdPlan {
        EtcdPlan {
            members: 3,
            disk: "network_ssd".into(),
            commit_latency: SimTime(1_580_000),
            per_write: SimTime(20_400),
            disk_bandwidth: 1e12,
            iops: 1e12,
            quota_bytes: 2 << 30,
        }
    }

    /// A closed loop of `clients` each writing again as soon as its write commits: the
    /// operations guide's benchmark.
    fn closed_loop(clients: u32, until: SimTime) -> (f64, f64) {
        let mut e = Etcd::new(plan());
        let mut pending = Vec::new();
        let mut ev: Vec<SimTime> = Vec::new();
        for c in 0..clients {
            if let Some(t) = e.submit(SimTime::ZERO, c, 100) {
                ev.push(t);
            }
        }
        let mut done = 0u64;
        let mut lat_sum = 0.0;
        let mut issued = vec![SimTime::ZERO; clients as usize];
        while let Some(t) = ev.pop() {
            if t > until {
                break;
            }
            match e.commit(t, &mut pending) {
                Committed::Later(at) => ev.push(at),
                Committed::Done(next) => {
                    if let Some(n) = next {
                        ev.push(n);
                    }
                    for &c in &pending.clone() {
                        done += 1;
                        lat_sum += t.since(issued[c as usize]).as_secs_f64();
                        issued[c as usize] = t;
                        if let Some(n) = e.submit(t, c, 100) {
                            ev.push(n);
                        }
                    }
                }
            }
            ev.sort_by(|a, b| b.cmp(a));
        }
        (
            done as f64 / until.as_secs_f64(),
            lat_sum / done as f64 * 1e3,
        )
    }

    #[test]
    fn one_client_gets_the_guides_583_writes_per_second() {
        let (rate, ms) = closed_loop(1, SimTime::from_secs(10));
        // 1 / (1.58 ms + 20.4 us) = 625/s; the guide's 583/s at 1.6 ms includes the
        // client's own round trip, which is not the leader's.
        assert!((rate - 625.0).abs() < 2.0, "{rate}");
        assert!((ms - 1.6).abs() < 0.01, "{ms}");
    }

    #[test]
    fn a_thousand_clients_get_the_guides_44_thousand_writes_per_second() {
        let (rate, ms) = closed_loop(1000, SimTime::from_secs(10));
        // Batches of 1,000: 1.58 ms + 1,000 x 20.4 us = 21.98 ms each, 45,496 writes/s (the
        // guide: 44,341/s at 22 ms).
        assert!((rate - 45_496.0).abs() / 45_496.0 < 0.01, "{rate}");
        assert!((ms - 21.98).abs() < 0.1, "{ms}");
    }

    #[test]
    fn writes_arriving_during_a_commit_wait_for_the_next_batch() {
        let mut e = Etcd::new(plan());
        let mut out = Vec::new();
        let end = e.submit(SimTime::ZERO, 1, 10).unwrap();
        assert_eq!(end, SimTime(1_600_400));
        assert_eq!(e.submit(SimTime(100_000), 2, 10), None);
        assert_eq!(e.submit(SimTime(200_000), 3, 10), None);
        let Committed::Done(Some(next)) = e.commit(end, &mut out) else {
            panic!()
        };
        assert_eq!(out, [1]);
        // Two writes: 1.58 ms + 2 x 20.4 us after the first batch.
        assert_eq!(next, end + SimTime(1_580_000 + 2 * 20_400));
        let Committed::Done(None) = e.commit(next, &mut out) else {
            panic!()
        };
        assert_eq!(out, [2, 3]);
    }

    #[test]
    fn past_the_quota_writes_are_refused() {
        let mut e = Etcd::new(plan());
        e.preload(2.0 * (1u64 << 30) as f64);
        let mut out = Vec::new();
        assert!(!e.refuses());
        let end = e.submit(SimTime::ZERO, 1, 1000).unwrap();
        e.commit(end, &mut out);
        assert!(e.refuses());
    }
}
