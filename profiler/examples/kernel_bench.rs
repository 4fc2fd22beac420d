//! Times the runtime's matmul kernels at BitNet 2B-4T shapes (m = 1 decode and m = 64):
//! `cargo run --release -p profiler --example kernel_bench`.

use candle_core::quantized::GgmlDType;
use profiler::runtime::matrix::{ClassicMatrix, Input, Matrix};
use profiler::runtime::ternary::{i2s, i2s::I2sMatrix, tl2, tl2::Tl2Matrix};
use std::time::Instant;

fn time(name: &str, m: &Matrix, rows: usize) -> anyhow::Result<()> {
    let x: Vec<f32> = (0..rows * m.cols())
        .map(|i| ((i * 37) % 101) as f32 / 50.0 - 1.0)
        .collect();
    m.forward(&Input::new(&x, rows))?;
    let reps = 5;
    let t = Instant::now();
    for _ in 0..reps {
        m.forward(&Input::new(&x, rows))?;
    }
    let s = t.elapsed().as_secs_f64() / reps as f64;
    let gmacs = (rows * m.rows() * m.cols()) as f64 / s / 1e9;
    println!(
        "{name:>24} {}x{} m={rows:<3} {:8.2} ms  {gmacs:6.2} GMAC/s",
        m.rows(),
        m.cols(),
        s * 1e3
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let (n, k) = (6912, 2560);
    let codes: Vec<i8> = (0..n * k)
        .map(|i| ((i * 7 + i / 3) % 3) as i8 - 1)
        .collect();
    let i2 = Matrix::I2s(
        I2sMatrix::new(i2s::pack(&codes, k, 0.01), n, k, None).map_err(anyhow::Error::msg)?,
    );
    let t2 = Matrix::Tl2(
        Tl2Matrix::new(tl2::pack(&codes, k, 0.01), n, k, None).map_err(anyhow::Error::msg)?,
    );
    drop(codes);
    let w: Vec<f32> = (0..32000 * k)
        .map(|i| ((i * 13) % 97) as f32 / 97.0 - 0.5)
        .collect();
    let f16 = Matrix::Classic(ClassicMatrix::quantize(&w, GgmlDType::F16, 32000, k)?);
    let q8 = Matrix::Classic(ClassicMatrix::quantize(&w[..n * k], GgmlDType::Q8_0, n, k)?);
    for rows in [1, 64] {
        time("I2_S", &i2, rows)?;
        time("TL2", &t2, rows)?;
        time("Q8_0 (candle)", &q8, rows)?;
        time("F16 output (dense)", &f16, rows)?;
    }
    Ok(())
}
