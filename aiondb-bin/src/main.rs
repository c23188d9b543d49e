// Wired into main by the integrator; until then only its tests use it.
#[allow(dead_code)]
mod cli;

fn main() {}
