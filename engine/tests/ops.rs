//! The small tensor ops against their naive definitions, and their typed errors.

mod common;

use common::*;
use rand::Rng;
use sluice_engine::{Add, Broadcast, Concat, EngineError, Mul, PixelShuffle, Upsample};

/// Index of `(z, y, x, c)` in a channels-last `[D][H][W][C]` tensor.
fn at(dims: [usize; 3], c_n: usize, z: usize, y: usize, x: usize, c: usize) -> usize {
    ((z * dims[1] + y) * dims[2] + x) * c_n + c
}

#[test]
fn pixel_shuffle_matches_crd_definition() {
    let mut r = rng(1);
    for (c2, rr, dims) in [(1, 3, vec![4, 5]), (3, 2, vec![2, 3, 7]), (5, 1, vec![1, 1]), (2, 4, vec![1, 9])] {
        let c_in = c2 * rr * rr;
        let plan = PixelShuffle::new(c_in, rr, &dims).unwrap_or_else(|e| panic!("{e}"));
        let d3 = if dims.len() == 2 { [1, dims[0], dims[1]] } else { [dims[0], dims[1], dims[2]] };
        let o3 = [d3[0], d3[1] * rr, d3[2] * rr];
        assert_eq!(plan.output_dims(), o3[3 - dims.len()..].to_vec());
        assert_eq!(plan.output_channels(), c2);
        for n in [1, 2] {
            let x = rand_vec(&mut r, n * plan.input_len());
            let mut out = vec![f32::NAN; n * plan.output_len()];
            plan.run(&x, &mut out).unwrap_or_else(|e| panic!("{e}"));
            for img in 0..n {
                let (xi, oi) = (&x[img * plan.input_len()..], &out[img * plan.output_len()..]);
                for z in 0..d3[0] {
                    for y in 0..d3[1] {
                        for xx in 0..d3[2] {
                            for cp in 0..c2 {
                                for i in 0..rr {
                                    for j in 0..rr {
                                        let want = xi[at(d3, c_in, z, y, xx, cp * rr * rr + i * rr + j)];
                                        let got = oi[at(o3, c2, z, y * rr + i, xx * rr + j, cp)];
                                        assert_eq!(got, want, "c2 {c2} r {rr} dims {dims:?} img {img}");
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    assert!(matches!(PixelShuffle::new(6, 2, &[3, 3]), Err(EngineError::InvalidSpec { .. })));
    assert!(matches!(PixelShuffle::new(8, 0, &[3, 3]), Err(EngineError::InvalidSpec { .. })));
    assert!(matches!(PixelShuffle::new(4, 2, &[3]), Err(EngineError::InvalidSpec { .. })));
    let p = PixelShuffle::new(4, 2, &[3, 3]).unwrap_or_else(|e| panic!("{e}"));
    let mut out = vec![0.0; p.output_len()];
    assert!(matches!(p.run(&[0.0; 35], &mut out), Err(EngineError::BufferLength { buffer: "input", .. })));
    assert!(matches!(p.run(&[0.0; 36], &mut out[1..]), Err(EngineError::BufferLength { buffer: "output", .. })));
}

#[test]
fn upsample_matches_nearest_definition() {
    let mut r = rng(2);
    for (c, f, dims) in [
        (1, vec![2, 2], vec![3, 5]),
        (16, vec![2, 2, 1], vec![2, 3, 4]),
        (3, vec![1, 3, 2], vec![2, 1, 3]),
        (9, vec![4], vec![5]),
        (17, vec![1, 1], vec![2, 2]),
    ] {
        let plan = Upsample::new(c, &f, &dims).unwrap_or_else(|e| panic!("{e}"));
        let rank = dims.len();
        let n3 = |v: &[usize]| {
            let mut a = [1; 3];
            a[3 - rank..].copy_from_slice(v);
            a
        };
        let (d3, f3) = (n3(&dims), n3(&f));
        let o3 = [d3[0] * f3[0], d3[1] * f3[1], d3[2] * f3[2]];
        assert_eq!(plan.output_dims(), o3[3 - rank..].to_vec());
        for n in [1, 3] {
            let x = rand_vec(&mut r, n * plan.input_len());
            let mut out = vec![f32::NAN; n * plan.output_len()];
            plan.run(&x, &mut out).unwrap_or_else(|e| panic!("{e}"));
            for img in 0..n {
                let (xi, oi) = (&x[img * plan.input_len()..], &out[img * plan.output_len()..]);
                for z in 0..o3[0] {
                    for y in 0..o3[1] {
                        for xx in 0..o3[2] {
                            for ch in 0..c {
                                let want = xi[at(d3, c, z / f3[0], y / f3[1], xx / f3[2], ch)];
                                assert_eq!(oi[at(o3, c, z, y, xx, ch)], want, "c {c} f {f:?} dims {dims:?}");
                            }
                        }
                    }
                }
            }
        }
    }
    assert!(matches!(Upsample::new(4, &[2], &[3, 3]), Err(EngineError::InvalidSpec { .. })));
    assert!(matches!(Upsample::new(4, &[0, 2], &[3, 3]), Err(EngineError::InvalidSpec { .. })));
    assert!(matches!(Upsample::new(0, &[2, 2], &[3, 3]), Err(EngineError::InvalidSpec { .. })));
    let p = Upsample::new(2, &[2, 2], &[3, 3]).unwrap_or_else(|e| panic!("{e}"));
    let mut out = vec![0.0; p.output_len() + 1];
    assert!(matches!(p.run(&[0.0; 18], &mut out), Err(EngineError::BufferLength { buffer: "output", .. })));
    assert!(matches!(p.run(&[], &mut out), Err(EngineError::BufferLength { buffer: "input", .. })));
}

#[test]
fn concat_matches_definition() {
    let mut r = rng(3);
    for (chans, dims) in [(vec![3, 1, 16], vec![4, 5]), (vec![8], vec![2, 2, 2]), (vec![17, 15], vec![7])] {
        let plan = Concat::new(&chans, &dims).unwrap_or_else(|e| panic!("{e}"));
        let total: usize = chans.iter().sum();
        assert_eq!(plan.output_channels(), total);
        let pixels: usize = dims.iter().product();
        for n in [1, 2] {
            let xs: Vec<Vec<f32>> = chans.iter().map(|c| rand_vec(&mut r, n * pixels * c)).collect();
            let refs: Vec<&[f32]> = xs.iter().map(|v| v.as_slice()).collect();
            let mut out = vec![f32::NAN; n * plan.output_len()];
            plan.run(&refs, &mut out).unwrap_or_else(|e| panic!("{e}"));
            for p in 0..n * pixels {
                let mut off = 0;
                for (x, &c) in xs.iter().zip(&chans) {
                    assert_eq!(&out[p * total + off..p * total + off + c], &x[p * c..(p + 1) * c]);
                    off += c;
                }
            }
        }
    }
    assert!(Concat::new(&[], &[2]).is_err());
    assert!(Concat::new(&[2, 0], &[2]).is_err());
    let plan = Concat::new(&[2, 3], &[4]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(plan.input_len(1), Some(12));
    assert_eq!(plan.input_len(2), None);
    let (a, b) = (vec![0.0; 8], vec![0.0; 12]);
    let mut out = vec![0.0; 20];
    assert!(matches!(plan.run(&[&a], &mut out), Err(EngineError::BufferLength { buffer: "inputs (count)", .. })));
    assert!(matches!(plan.run(&[&a, &b[1..]], &mut out), Err(EngineError::BufferLength { buffer: "input", .. })));
    assert!(matches!(plan.run(&[&a, &b], &mut out[1..]), Err(EngineError::BufferLength { buffer: "output", .. })));
    assert!(plan.run(&[&a, &b], &mut out).is_ok());
}

#[test]
fn add_and_mul_with_broadcasts() {
    let mut r = rng(4);
    for _ in 0..40 {
        let c = r.random_range(1..=40);
        let pixels = r.random_range(1..=50);
        let n = r.random_range(1..=3);
        for b in [Broadcast::Same, Broadcast::PerChannel, Broadcast::PerPixel] {
            let x = rand_vec(&mut r, n * pixels * c);
            let add = Add::new(c, pixels, b).unwrap_or_else(|e| panic!("{e}"));
            let mul = Mul::new(c, pixels, b).unwrap_or_else(|e| panic!("{e}"));
            let y = rand_vec(&mut r, add.y_len(n));
            assert_eq!(mul.y_len(n), y.len());
            let yat = |p: usize, ch: usize| match b {
                Broadcast::Same => y[p * c + ch],
                Broadcast::PerChannel => y[ch],
                Broadcast::PerPixel => y[p],
            };
            let mut sum = vec![f32::NAN; x.len()];
            let mut prod = vec![f32::NAN; x.len()];
            add.run(&x, &y, &mut sum).unwrap_or_else(|e| panic!("{e}"));
            mul.run(&x, &y, &mut prod).unwrap_or_else(|e| panic!("{e}"));
            let mut sum2 = x.clone();
            let mut prod2 = x.clone();
            add.run_in_place(&mut sum2, &y).unwrap_or_else(|e| panic!("{e}"));
            mul.run_in_place(&mut prod2, &y).unwrap_or_else(|e| panic!("{e}"));
            for p in 0..n * pixels {
                for ch in 0..c {
                    let i = p * c + ch;
                    assert_eq!(sum[i], x[i] + yat(p, ch), "{b:?}");
                    assert_eq!(prod[i], x[i] * yat(p, ch), "{b:?}");
                }
            }
            assert_eq!(sum, sum2);
            assert_eq!(prod, prod2);
        }
    }
    assert!(Add::new(0, 4, Broadcast::Same).is_err());
    assert!(Mul::new(4, 0, Broadcast::PerPixel).is_err());
    let gate = Mul::new(4, 6, Broadcast::PerPixel).unwrap_or_else(|e| panic!("{e}"));
    let x = vec![1.0; 48];
    let mut out = vec![0.0; 48];
    assert!(matches!(gate.run(&x, &[0.5; 11], &mut out), Err(EngineError::BufferLength { buffer: "y", .. })));
    assert!(matches!(gate.run(&x[1..], &[0.5; 12], &mut out), Err(EngineError::BufferLength { buffer: "x", .. })));
    assert!(matches!(gate.run(&x, &[0.5; 12], &mut out[1..]), Err(EngineError::BufferLength { buffer: "output", .. })));
    gate.run(&x, &[0.5; 12], &mut out).unwrap_or_else(|e| panic!("{e}"));
    assert!(out.iter().all(|&v| v == 0.5));
}
