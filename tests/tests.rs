//! Integration tests: the real binary over loopback HTTP against the bundled simulator.

mod cli;
mod columns;
mod export;
mod faults;
mod jobs;
mod resume;
mod safety;
mod tidy;
mod tls;
mod trust;
mod util;
