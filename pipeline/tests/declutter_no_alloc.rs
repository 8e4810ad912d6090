//! The declutter stage allocates nothing per frame after construction: a counting global
//! allocator watches `DeclutterStage::process_*` on a frame whose sides need padding (its own
//! test binary, since the counter is process-wide).

mod counting;

use counting::count;

use std::sync::Arc;

use sluice_engine::Threads;
use sluice_models::clutter::Clutter;
use sluice_pipeline::echo::DeclutterStage;
use sluice_pipeline::video::{Colour, Matrix, Plane, PlaneMut, Range};

#[test]
fn processing_frames_allocates_nothing() {
    assert!(count(|| drop(std::hint::black_box(vec![1u8; 8]))) > 0, "the counter counts");
    let model = Clutter::bundled().unwrap_or_else(|e| panic!("{e}"));
    // 30×21 pads to 32×24.
    let (w, h) = (30usize, 21usize);
    let x: Vec<f32> = (0..w * h).map(|i| ((i * 37) % 101) as f32 / 100.0).collect();
    let bytes: Vec<u8> = x.iter().map(|v| (v * 255.0) as u8).collect();
    let chroma = vec![140u8; w.div_ceil(2) * h.div_ceil(2)];
    let (mut y, mut out) = (vec![0.0; w * h], vec![0u8; w * h]);
    let bt709 = Colour { matrix: Matrix::Bt709, range: Range::Limited };
    for n in [1, 2] {
        let threads = Arc::new(Threads::new(n).unwrap_or_else(|e| panic!("{e}")));
        let mut stage = DeclutterStage::new(&model, w, h, threads).unwrap_or_else(|e| panic!("{e}"));
        let mut frame = |stage: &mut DeclutterStage, i: usize| {
            let luma = Plane { data: &bytes, stride: w, width: w, height: h };
            let c = Plane { data: &chroma, stride: w.div_ceil(2), width: w.div_ceil(2), height: h.div_ceil(2) };
            let mut dst = PlaneMut { data: &mut out, stride: w, width: w, height: h };
            match i % 3 {
                0 => stage.process_f32(&x, &mut y),
                1 => stage.process_u8(luma, &mut dst),
                _ => stage.process_ycbcr([luma, c, c], bt709, &mut dst, Range::Limited),
            }
        };
        // Warm up (pool start-up), then count over several frames of every kind and a reset.
        for i in 0..3 {
            frame(&mut stage, i).unwrap_or_else(|e| panic!("{e}"));
        }
        let allocs = count(|| {
            for i in 0..7 {
                if i == 4 {
                    stage.reset();
                }
                frame(&mut stage, i).unwrap_or_else(|e| panic!("{e}"));
            }
        });
        assert_eq!(allocs, 0, "{n} thread(s): processing allocated");
    }
}
