//! The scheduler on tokio's paused clock, against a scripted fake runner: each test drives a
//! few simulated hours in milliseconds and compares the runs that happened with a timeline.

mod harness;

mod control;
mod failures;
mod limits;
mod timing;
