//! What API calls cost: object sizes, CPU per call and per byte, watch fan-out, memory.
//!
//! Each figure carries its source. Where no public measurement exists the figure is an
//! estimate, marked as such, and docs/control-plane.md lists it with what it drives.

use crate::engine::SimTime;

/// Bytes of one Node object (FACTS: about 20 KB; 30 KB with server-side apply's managed
/// fields).
pub const NODE_BYTES: u32 = 20_000;
/// Bytes of one Pod object in a large cluster (FACTS: about 20 KB).
pub const POD_BYTES: u32 = 20_000;
/// Bytes of one Lease, which a renewal rewrites whole (FACTS: a renewal is about 0.2 KB on
/// the wire; the stored object with its metadata about 0.3 KB).
pub const LEASE_BYTES: u32 = 300;
/// Bytes of one Event (estimate: an Event with its involved object reference, reason and
/// message, as `kubectl get events -o yaml` shows, about 1 KB).
pub const EVENT_BYTES: u32 = 1_000;
/// Bytes per endpoint in an Endpoints or EndpointSlice object: KEP-752's worked example
/// (20,000 endpoints; one change sends about 10 GB to 5,000 watchers with Endpoints, about
/// 50 MB with slices) gives 10 GB / 5,000 / 20,000 = 100 B per endpoint.
pub const ENDPOINT_BYTES: u32 = 100;
/// Endpoints per EndpointSlice (`--max-endpoints-per-slice`, 100 by default).
pub const ENDPOINTS_PER_SLICE: u32 = 100;
/// Bytes of one Deployment or ReplicaSet (estimate: about 4 KB with its pod template).
pub const WORKLOAD_BYTES: u32 = 4_000;
/// Bytes of one Service (estimate: about 1 KB).
pub const SERVICE_BYTES: u32 = 1_000;
/// Bytes of the small objects a call carries when it is not an object (a binding, a
/// scale subresource, a delete's options): about 0.5 KB.
pub const SMALL_BYTES: u32 = 500;
/// Events written per pod start: Scheduled (by the scheduler), then Pulling, Pulled,
/// Created and Started (by the kubelet) when the image is pulled; we count the four that
/// every start writes (Scheduled, Pulled or Pulling, Created, Started).
pub const EVENTS_PER_POD_START: u32 = 4;
/// How long Events live (kube-apiserver `--event-ttl`, 1 h by default).
pub const EVENT_TTL: SimTime = SimTime::from_secs(3600);

/// CPU time of a call's fixed work in the API server: authentication, authorization,
/// admission, defaulting, audit and routing (estimate, see the module docs; at 1,000
/// requests per second per core a server of 16 cores does 16,000 small calls per second,
/// the order kube-apiserver reaches in scalability tests).
pub const CALL_CPU: SimTime = SimTime(250_000);
/// CPU per object a LIST from the watch cache scans: KEP-2340 measured kube-apiserver at
/// 0.63 cores serving one LIST per second over 300,000 objects from its cache (selecting
/// none): 2.1 us per object.
pub const CACHE_SCAN_CPU: SimTime = SimTime(2_100);
/// CPU per byte decoded or encoded in protobuf (estimate: about 200 MB/s per core, the
/// order Go's protobuf and kube-apiserver's serializers reach; JSON is slower).
pub const NS_PER_BYTE: f64 = 5.0;
/// CPU per watch event per watcher it goes to: filtering and writing to the watcher's
/// connection (the event is serialized once per server, KEP-1152).
pub const WATCH_SEND_CPU: SimTime = SimTime(5_000);
/// CPU per byte sent to a watcher (copying to the connection and TLS, estimate: about
/// 1 GB/s per core).
pub const NS_PER_SENT_BYTE: f64 = 1.0;

/// Memory of an API server with nothing stored (estimate: the binary, caches of
/// discovery and OpenAPI, the goroutines of an idle server, about 0.5 GB).
pub const BASE_MEMORY: f64 = 0.5e9;
/// Memory per byte of stored object: the watch cache holds each object decoded (several
/// times its protobuf size) plus a window of events, and Go's collector lets the heap grow
/// to about twice what is live. Calibrated on Kubernetes' 5,000-node scalability test
/// (150,000 pods of about 20 KB and 5,000 nodes, about 3.1 GB stored), whose API server used
/// about 23 GB (KEP-4988: its B-tree's 300 MB were 1.3% of the server's memory): (23 - 0.5)
/// / 3.1 = 7.2. Compare: kubemark at 1,000 nodes used 2.9 GB (2016); OpenAI saw up to 70 GB
/// at 7,500 nodes (2021).
pub const CACHE_BYTES_PER_BYTE: f64 = 7.2;
/// Memory per watch (the cacheWatcher's buffered channel and goroutines: about 10 KB).
pub const WATCHER_BYTES: f64 = 10_000.0;

/// CPU to encode or decode `bytes` of objects.
pub fn codec(bytes: f64) -> SimTime {
    SimTime::from_secs_f64(bytes * NS_PER_BYTE * 1e-9)
}

/// Bytes of the objects that carry `endpoints` endpoints: one Endpoints object, or the
/// slices of up to 100.
pub fn endpoints_bytes(endpoints: u32) -> u64 {
    u64::from(endpoints) * u64::from(ENDPOINT_BYTES)
}

/// Bytes written and sent per watcher when one endpoint of a service of `endpoints`
/// endpoints changes: the whole Endpoints object, or the one slice that holds it.
pub fn endpoint_change_bytes(endpoints: u32, legacy: bool) -> u64 {
    let n = if legacy {
        endpoints
    } else {
        endpoints.min(ENDPOINTS_PER_SLICE)
    };
    endpoints_bytes(n.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kep_752_one_endpoint_change_sends_10_gb_legacy_and_50_mb_sliced() {
        // KEP-752 (EndpointSlice API): 20,000 endpoints on 5,000 nodes (each node's
        // kube-proxy watches); one endpoint change sends the object to all 5,000.
        let watchers = 5_000u64;
        let legacy = endpoint_change_bytes(20_000, true) * watchers;
        let slices = endpoint_change_bytes(20_000, false) * watchers;
        assert_eq!(legacy, 10_000_000_000);
        assert_eq!(slices, 50_000_000);
    }
}
