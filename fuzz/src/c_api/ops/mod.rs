//! The calls a run makes, one module per kind of object.

pub(crate) mod device;
pub(crate) mod engines;
pub(crate) mod misc;
