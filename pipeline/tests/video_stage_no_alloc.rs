//! The per-frame upscale stage allocates nothing once built (the bicubic model builds its
//! resizer on the first frame): a counting global allocator watches `UpscaleStage::process` and
//! the pipelined `submit`/`complete`, model thread included.

mod counting;

use counting::count;

use sluice_pipeline::video::{
    BicubicUpscaler, Colour, FrameLayout, Matrix, Plane, PlaneMut, Range, Rotation, UpscaleStage,
};

// One test function: the counter is process-wide, so parallel tests would count each other.
#[test]
fn upscale_stage_allocates_nothing_per_frame() {
    let (w, h, s) = (37, 21, 3);
    for (out_sub, rotation) in [((1, 1), Rotation::None), ((0, 0), Rotation::Cw90)] {
        let input = FrameLayout::subsampled(w, h, 1, 1);
        let output = FrameLayout::subsampled(w * s, h * s, out_sub.0, out_sub.1);
        let up = BicubicUpscaler::new(s).unwrap_or_else(|e| panic!("{e}"));
        let colour = Colour { matrix: Matrix::Bt709, range: Range::Limited };
        let mut stage = UpscaleStage::new(Box::new(up), colour, input, output)
            .unwrap_or_else(|e| panic!("{e}"))
            .with_rotation(rotation);
        let y: Vec<u8> = (0..w * h).map(|i| (16 + i % 220) as u8).collect();
        let c: Vec<u8> = (0..input.chroma.0 * input.chroma.1).map(|i| (16 + i % 225) as u8).collect();
        let (ol, oc) = (rotation.apply(output.luma), rotation.apply(output.chroma));
        let (mut oy, mut ocb, mut ocr) = (vec![0u8; ol.0 * ol.1], vec![0u8; oc.0 * oc.1], vec![0u8; oc.0 * oc.1]);
        let mut run = || {
            let chroma = Plane { data: &c, stride: input.chroma.0, width: input.chroma.0, height: input.chroma.1 };
            let mut sink = [
                PlaneMut { data: &mut oy, stride: ol.0, width: ol.0, height: ol.1 },
                PlaneMut { data: &mut ocb, stride: oc.0, width: oc.0, height: oc.1 },
                PlaneMut { data: &mut ocr, stride: oc.0, width: oc.0, height: oc.1 },
            ];
            stage
                .process([Plane { data: &y, stride: w, width: w, height: h }, chroma, chroma], &mut sink)
                .unwrap_or_else(|e| panic!("{e}"));
        };
        run();
        let allocs = count(|| {
            for _ in 0..10 {
                run();
            }
        });
        assert_eq!(allocs, 0, "{out_sub:?} {rotation:?}");
        // Pipelined as the file pass drives it: frame n+1 submitted before frame n completes.
        let allocs = count(|| {
            let chroma = Plane { data: &c, stride: input.chroma.0, width: input.chroma.0, height: input.chroma.1 };
            let luma = Plane { data: &y, stride: w, width: w, height: h };
            for _ in 0..10 {
                stage.submit([luma, chroma, chroma]).unwrap_or_else(|e| panic!("{e}"));
                if stage.pending() == UpscaleStage::DEPTH {
                    let mut sink = [
                        PlaneMut { data: &mut oy, stride: ol.0, width: ol.0, height: ol.1 },
                        PlaneMut { data: &mut ocb, stride: oc.0, width: oc.0, height: oc.1 },
                        PlaneMut { data: &mut ocr, stride: oc.0, width: oc.0, height: oc.1 },
                    ];
                    stage.complete(&mut sink).unwrap_or_else(|e| panic!("{e}"));
                }
            }
        });
        assert_eq!(allocs, 0, "pipelined {out_sub:?} {rotation:?}");
        // The frame was really written: luma in the legal limited range, not all black.
        assert!(oy.iter().all(|v| (16..=235).contains(v)) && oy.iter().any(|v| *v > 100));
    }
}
