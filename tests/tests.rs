//! Integration tests: the real binary over loopback HTTP against the bundled simulator.

mod check;
mod cli;
mod columns;
mod export;
mod faults;
mod filters;
mod jobs;
mod logs;
mod pending;
mod proxy;
mod resume;
mod safety;
mod tables;
mod tidy;
mod tls;
mod trust;
mod tz;
mod util;
