//! Benchmark floor: reads and decompresses a file's matrix block by block,
//! doing nothing else, and prints the seconds it took (JSON).
//!
//! usage: cargo run --release -p c2s-data --example read_matrix -- FILE [MATRIX]

use std::time::Instant;

use c2s_data::anndata::{AnnData, MatrixId};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let path = args.get(1).ok_or("usage: read_matrix FILE [MATRIX]")?;
    let t = Instant::now();
    let ad = AnnData::open(path)?;
    let id: MatrixId = match args.get(2) {
        Some(m) => m.parse()?,
        None => MatrixId::X,
    };
    let m = ad.matrix(&id)?;
    let mut values = 0usize;
    for (a, b) in m.chunks(c2s_data::convert::DEFAULT_BLOCK_VALUES) {
        values += m.read_rows(a, b)?.data.len();
    }
    println!(
        "{{\"seconds\": {:.4}, \"values\": {values}}}",
        t.elapsed().as_secs_f64()
    );
    Ok(())
}
