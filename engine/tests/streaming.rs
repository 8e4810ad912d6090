//! Streaming causal conv: frames fed a few at a time equal the whole-sequence causal conv.

mod common;

use common::*;
use rand::Rng;
use sluice_engine::{Activation, Conv, ConvSpec, StreamingConv, Threads};

#[test]
fn streaming_equals_whole_sequence() {
    let mut r = rng(11);
    let t = Threads::single();
    for isa in tiers() {
        for case in 0..12 {
            let rank = r.random_range(1..=3);
            let groups = [1, 2][r.random_range(0..2)];
            let cin = groups * r.random_range(1..=5);
            let cout = groups * r.random_range(1..=9);
            let mut kernel: Vec<usize> = (0..rank).map(|_| r.random_range(1..=3)).collect();
            kernel[0] = r.random_range(1..=5);
            let mut dil = vec![1; rank];
            dil[0] = r.random_range(1..=2);
            let mut spec = ConvSpec::new(cin, cout, &kernel)
                .dilation(&dil)
                .same_padding()
                .activation(Activation::Relu)
                .groups(groups);
            spec = spec.causal_time();
            let frame_dims: Vec<usize> = (1..rank).map(|_| r.random_range(1..=10)).collect();
            let steps = r.random_range(1..=3);
            let n_frames = steps * r.random_range(3..=7);
            let frame_len: usize = frame_dims.iter().product::<usize>() * cin;
            let w = rand_vec(&mut r, spec.weight_len());
            let b = rand_vec(&mut r, cout);
            let x = rand_vec(&mut r, n_frames * frame_len);

            let mut dims = vec![n_frames];
            dims.extend_from_slice(&frame_dims);
            let whole = Conv::with_isa(isa, &spec, &dims, &w, Some(&b)).unwrap_or_else(|e| panic!("{e}"));
            let mut want = vec![0.0; whole.output_len()];
            whole.run(&x, &mut want, &mut vec![0.0; whole.scratch_len(&t)], &t).unwrap_or_else(|e| panic!("{e}"));

            let s =
                StreamingConv::with_isa(isa, &spec, &frame_dims, steps, &w, Some(&b)).unwrap_or_else(|e| panic!("{e}"));
            let mut st = s.new_state(1);
            let mut scratch = vec![0.0; s.scratch_len(&t)];
            let mut got = vec![0.0; want.len()];
            let (fi, fo) = (s.input_frame_len() * steps, s.output_frame_len() * steps);
            for (xi, yo) in x.chunks(fi).zip(got.chunks_mut(fo)) {
                s.step(&mut st, xi, yo, &mut scratch, &t).unwrap_or_else(|e| panic!("{e}"));
            }
            // Equal up to summation order: the vector kernels take a different (border) path for
            // frames whose taps reach into the causal padding than for frames that read history.
            let want64: Vec<f64> = want.iter().map(|v| *v as f64).collect();
            assert_close(&format!("{isa} case {case} {spec:?}"), &got, &want64, 1e-5, 1e-5);

            // After a reset the stream starts over from silence.
            st.reset();
            let mut again = vec![0.0; fo];
            s.step(&mut st, &x[..fi], &mut again, &mut scratch, &t).unwrap_or_else(|e| panic!("{e}"));
            assert_close("reset", &again, &want64[..fo], 1e-5, 1e-5);
        }
    }
}

#[test]
fn batched_streams_are_independent() {
    let mut r = rng(12);
    let t = Threads::single();
    let spec = ConvSpec::new(2, 8, &[3, 3]).padding(&[2, 1], &[0, 1]).activation(Activation::Tanh);
    let w = rand_vec(&mut r, spec.weight_len());
    let s = StreamingConv::new(&spec, &[12], 1, &w, None).unwrap_or_else(|e| panic!("{e}"));
    let frames = 9;
    let xs: Vec<Vec<f32>> = (0..3).map(|_| rand_vec(&mut r, frames * s.input_frame_len())).collect();
    let mut scratch = vec![0.0; s.scratch_len(&t)];
    // alone
    let mut alone = Vec::new();
    for x in &xs {
        let mut st = s.new_state(1);
        let mut y = vec![0.0; frames * s.output_frame_len()];
        for (xi, yo) in x.chunks(s.input_frame_len()).zip(y.chunks_mut(s.output_frame_len())) {
            s.step(&mut st, xi, yo, &mut scratch, &t).unwrap_or_else(|e| panic!("{e}"));
        }
        alone.push(y);
    }
    // together
    let mut st = s.new_state(3);
    let mut inp = vec![0.0; 3 * s.input_frame_len()];
    let mut out = vec![0.0; 3 * s.output_frame_len()];
    for f in 0..frames {
        for (i, x) in xs.iter().enumerate() {
            inp[i * s.input_frame_len()..(i + 1) * s.input_frame_len()]
                .copy_from_slice(&x[f * s.input_frame_len()..(f + 1) * s.input_frame_len()]);
        }
        s.step(&mut st, &inp, &mut out, &mut scratch, &t).unwrap_or_else(|e| panic!("{e}"));
        for (i, y) in alone.iter().enumerate() {
            let o = s.output_frame_len();
            assert_eq!(&out[i * o..(i + 1) * o], &y[f * o..(f + 1) * o], "stream {i} frame {f}");
        }
    }
}

#[test]
fn non_causal_specs_are_refused() {
    let spec = ConvSpec::new(1, 1, &[3, 3]).same_padding();
    assert!(StreamingConv::new(&spec, &[4], 1, &[0.0; 9], None).is_err());
    assert!(StreamingConv::new(&spec.clone().causal_time(), &[4, 4], 1, &[0.0; 9], None).is_err());
    assert!(StreamingConv::new(&spec.causal_time(), &[4], 0, &[0.0; 9], None).is_err());
}

/// A producer that writes a step's new frames straight into the history's input slots and
/// then steps (`step_filled`) gets exactly what `step` gives when handed the same frames, for
/// several streams at once and several frames per step.
#[test]
fn filled_steps_equal_copied_steps() {
    let mut r = rng(13);
    let t = Threads::single();
    for isa in tiers() {
        for (frames, streams) in [(1, 1), (1, 3), (4, 2)] {
            let spec = ConvSpec::new(3, 16, &[3, 3, 3]).same_padding().causal_time().activation(Activation::Relu);
            let w = rand_vec(&mut r, spec.weight_len());
            let b = rand_vec(&mut r, 16);
            let s =
                StreamingConv::with_isa(isa, &spec, &[5, 19], frames, &w, Some(&b)).unwrap_or_else(|e| panic!("{e}"));
            let (fi, fo) = (s.input_frame_len() * frames, s.output_frame_len() * frames);
            let (mut copied, mut filled) = (s.new_state(streams), s.new_state(streams));
            let mut scratch = vec![0.0; s.scratch_len(&t)];
            for step in 0..5 {
                let x = rand_vec(&mut r, fi * streams);
                let mut want = vec![0.0; fo * streams];
                s.step(&mut copied, &x, &mut want, &mut scratch, &t).unwrap_or_else(|e| panic!("{e}"));
                for (i, chunk) in x.chunks_exact(fi).enumerate() {
                    let slots = filled.input_mut(i).unwrap_or_else(|e| panic!("{e}"));
                    slots.copy_from_slice(chunk);
                }
                let mut got = vec![0.0; fo * streams];
                s.step_filled(&mut filled, &mut got, &mut scratch, &t).unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(got, want, "{isa} frames {frames} streams {streams} step {step}");
            }
            assert!(filled.input_mut(streams).is_err(), "a stream the history does not hold");
        }
    }
}
