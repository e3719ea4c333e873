//! Tests of the library's readers on their own: the fast path against
//! serde-saphyr, and the manifest reader against kubectl's own reading.
//! They call the readers' internals (`--features fuzzing`).

mod block_yaml;
mod fast_yaml;
mod fix;
mod kubectl_reading;
mod pool;
