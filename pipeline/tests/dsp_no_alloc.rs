//! Per-hop DSP allocates nothing: a counting global allocator watches every `process`/`run`.

mod counting;

use counting::count;

use sluice_pipeline::dsp::{
    Analysis, Complex32, Dfn3Dsp, DspConfig, Enhancer, ErbFeatures, FrontEnd, NoisyRing, RmsGate, SpecFeatures,
    StageOutput, Synthesis,
};

/// Warms `f` up, then counts allocations over more runs.
fn allocations(mut f: impl FnMut()) -> usize {
    for _ in 0..3 {
        f();
    }
    count(|| {
        for _ in 0..20 {
            f();
        }
    })
}

fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

// One test function: the counter is process-wide, so parallel tests would count each other.
#[test]
fn per_hop_dsp_allocates_nothing() {
    let cfg = DspConfig::DFN3;
    let hop: Vec<f32> = (0..480).map(|i| (i as f32 * 0.05).sin() * 0.3).collect();
    let mut out = vec![0.0f32; 480];
    let mut spec = vec![Complex32::new(0.0, 0.0); 481];
    let (mut fe, mut fs) = (vec![0.0f32; 32], vec![0.0f32; 192]);
    let mask = vec![0.7f32; 32];
    let coefs: Vec<f32> = (0..960).map(|i| ((i % 7) as f32 - 3.0) * 0.1).collect();

    let mut a = ok(Analysis::new(&cfg));
    let mut s = ok(Synthesis::new(&cfg));
    let mut erb = ok(ErbFeatures::new(&cfg));
    let mut sf = ok(SpecFeatures::new(&cfg));
    let mut ring = ok(NoisyRing::new(&cfg));
    let mut gate = RmsGate::new();
    let mut e = ok(Enhancer::new(&cfg));
    e.set_post_filter_beta(0.02);
    e.set_atten_lim_db(12.0);
    let n = allocations(|| {
        gate.observe(&hop);
        ok(a.process(&hop, ring.push_slot()));
        ok(erb.process(ring.frame(0), &mut fe));
        ok(sf.process(ring.frame(0), &mut fs));
        ok(e.run(&ring, StageOutput::ErbDf { mask: &mask, coefs: &coefs }, &mut spec));
        ok(s.process(&spec, &mut out));
    });
    assert_eq!(n, 0, "building blocks allocated");

    for (atten, beta) in [(100.0, 0.0), (12.0, 0.02), (0.0, 0.0)] {
        let mut d = ok(Dfn3Dsp::new(&cfg));
        d.set_atten_lim_db(atten);
        d.set_post_filter_beta(beta);
        let n = allocations(|| {
            if ok(d.front(&hop, &mut out, &mut fe, &mut fs)) == FrontEnd::Features {
                ok(d.back(StageOutput::ErbDf { mask: &mask, coefs: &coefs }, &mut out));
            }
        });
        assert_eq!(n, 0, "driver allocated (atten {atten} dB, beta {beta})");
    }
}
