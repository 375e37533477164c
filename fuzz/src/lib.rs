//! The checks the fuzz targets run, as a library so that each target is one line.
#![forbid(unsafe_code)]

pub mod checks;
