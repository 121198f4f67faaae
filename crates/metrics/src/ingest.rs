//! Turns k6's CSV metric output into a [`crate::ShardResult`].
