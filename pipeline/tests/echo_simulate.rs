//! The echo simulator's contract: deterministic by seed, clutter only inside the mask, the fan
//! geometry, value ranges, speckle that follows the tissue, motion patterns, config errors.

use sluice_pipeline::echo::simulate::{Clip, ClutterKind, Label, MotionPattern, SimConfig, SimError, Simulator};

/// A small, quick set-up (the physics is the same; fewer pixels and frames).
fn small(clutter: ClutterKind) -> SimConfig {
    SimConfig { width: 64, height: 64, frames: 8, polar_samples: 192, polar_beams: 64, clutter, ..SimConfig::default() }
}

fn simulate(config: SimConfig, seed: u64) -> Clip {
    Simulator::new(config).unwrap_or_else(|e| panic!("{e}")).simulate(seed)
}

fn bytes(clip: &Clip) -> Vec<u8> {
    [&clip.cluttered, &clip.clean, &clip.mask, &clip.labels]
        .iter()
        .flat_map(|a| a.iter().flat_map(|v| v.to_le_bytes()))
        .collect()
}

#[test]
fn same_seed_gives_identical_bytes_and_other_seeds_differ() {
    let a = simulate(small(ClutterKind::Both), 11);
    let b = simulate(small(ClutterKind::Both), 11);
    assert_eq!(bytes(&a), bytes(&b), "seed 11 twice");
    let c = simulate(small(ClutterKind::Both), 12);
    assert_ne!(a.clean, c.clean, "seeds 11 and 12 gave the same clean clip");
    assert_ne!(a.scene, c.scene);
    // Same result when simulated from another thread (nothing depends on thread state).
    let d = std::thread::spawn(|| simulate(small(ClutterKind::Both), 11)).join().unwrap_or_else(|_| panic!("thread"));
    assert_eq!(bytes(&a), bytes(&d));
}

#[test]
fn clutter_stays_inside_the_mask() {
    for (seed, kind) in (20..26).zip([ClutterKind::NearField, ClutterKind::Reverberation, ClutterKind::Both].repeat(2))
    {
        let clip = simulate(small(kind), seed);
        let mut inside_diff = 0.0;
        for ((c, k), m) in clip.cluttered.iter().zip(&clip.clean).zip(&clip.mask) {
            if *m == 0.0 {
                assert_eq!(c, k, "seed {seed} {kind:?}: clutter outside the mask");
            } else {
                inside_diff += (c - k).abs();
            }
        }
        assert!(inside_diff > 0.0, "seed {seed} {kind:?}: the mask holds no clutter");
    }
}

#[test]
fn clean_clip_is_the_same_under_every_clutter_class() {
    let none = simulate(small(ClutterKind::None), 5);
    assert_eq!(none.cluttered, none.clean);
    assert!(none.mask.iter().all(|&m| m == 0.0));
    for kind in [ClutterKind::NearField, ClutterKind::Reverberation, ClutterKind::Both] {
        let clip = simulate(small(kind), 5);
        assert_eq!(clip.clean, none.clean, "{kind:?}");
        assert!(clip.mask.contains(&1.0), "{kind:?}: empty mask");
    }
}

#[test]
fn near_field_mask_is_static() {
    for seed in 30..33 {
        let clip = simulate(small(ClutterKind::NearField), seed);
        for t in 1..clip.frames {
            assert_eq!(clip.frame(&clip.mask, t), clip.frame(&clip.mask, 0), "seed {seed} frame {t}");
        }
    }
}

#[test]
fn frames_are_zero_outside_the_fan() {
    for seed in 40..43 {
        let clip = simulate(small(ClutterKind::Both), seed);
        let half = (0.5 * clip.scene.probe.opening_deg).to_radians();
        let depth = clip.scene.probe.depth_mm;
        let (pw, ph) = clip.pixel_mm;
        let (mut inside, mut lit) = (0, 0);
        for row in 0..clip.height {
            for col in 0..clip.width {
                let x = (col as f32 + 0.5 - 0.5 * clip.width as f32) * pw;
                let z = (row as f32 + 0.5) * ph;
                let (r, theta) = (x.hypot(z), x.atan2(z));
                // One pixel of slack at the fan's edges.
                let outside = r > depth + ph || theta.abs() > half + 1.5 * pw.max(ph) / r.max(1.0);
                let well_inside = r < depth - ph && theta.abs() < half - 1.5 * pw.max(ph) / r.max(1.0);
                for t in 0..clip.frames {
                    let p = t * clip.frame_len() + row * clip.width + col;
                    if outside {
                        for a in [&clip.cluttered, &clip.clean, &clip.mask, &clip.labels] {
                            assert_eq!(a[p], 0.0, "seed {seed}: pixel ({col}, {row}) outside the fan is lit");
                        }
                    } else if well_inside {
                        inside += 1;
                        lit += usize::from(clip.clean[p] > 0.0);
                    }
                }
            }
        }
        assert!(lit * 10 > inside * 7, "seed {seed}: only {lit} of {inside} fan pixels lit");
    }
}

#[test]
fn values_are_grey_levels_masks_and_labels() {
    let clip = simulate(small(ClutterKind::Both), 50);
    for a in [&clip.cluttered, &clip.clean] {
        for &v in a.iter() {
            assert!((0.0..=1.0).contains(&v), "{v} out of [0, 1]");
            assert!((v * 255.0 - (v * 255.0).round()).abs() < 1e-3, "{v} is not a grey level k/255");
        }
    }
    assert!(clip.mask.iter().all(|&m| m == 0.0 || m == 1.0));
    assert!(clip.labels.iter().all(|&l| l == 0.0 || l == 1.0 || l == 2.0));
    // The LV is there, and blood is darker than myocardium.
    let mean_of = |label: Label| {
        let v: Vec<f32> =
            clip.clean.iter().zip(&clip.labels).filter(|(_, l)| **l == label as u8 as f32).map(|(v, _)| *v).collect();
        assert!(v.len() > 100, "{label:?}: only {} pixels", v.len());
        v.iter().sum::<f32>() / v.len() as f32
    };
    let (myo, blood) = (mean_of(Label::Myocardium), mean_of(Label::Blood));
    assert!(myo > blood + 0.1, "myocardium {myo} vs blood {blood}");
}

/// Pearson correlation of `a` and `b` over the pixels where `keep` holds.
fn correlation(a: &[f32], b: &[f32], keep: impl Fn(usize) -> bool) -> f32 {
    let idx: Vec<usize> = (0..a.len()).filter(|&k| keep(k)).collect();
    let n = idx.len() as f32;
    let (ma, mb) = (idx.iter().map(|&k| a[k]).sum::<f32>() / n, idx.iter().map(|&k| b[k]).sum::<f32>() / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for &k in &idx {
        let (x, y) = (a[k] - ma, b[k] - mb);
        sab += x * y;
        saa += x * x;
        sbb += y * y;
    }
    sab / (saa * sbb).sqrt()
}

#[test]
fn speckle_moves_with_the_tissue() {
    let config = SimConfig { frames: 32, ..small(ClutterKind::None) };
    let clip = simulate(config.clone(), 60);
    let other = simulate(config, 61);
    let myo = |t: usize, k: usize| clip.frame(&clip.labels, t)[k] == 1.0;
    let mut consecutive = Vec::new();
    for t in 0..clip.frames - 1 {
        let c = correlation(clip.frame(&clip.clean, t), clip.frame(&clip.clean, t + 1), |k| myo(t, k) && myo(t + 1, k));
        assert!(c < 0.995, "frames {t}, {}: speckle frozen (r = {c})", t + 1);
        consecutive.push(c);
    }
    consecutive.sort_by(f32::total_cmp);
    let median = consecutive[consecutive.len() / 2];
    let best = consecutive[consecutive.len() - 1];
    // Slow phases keep the pattern (trackable speckle); a fresh pattern would correlate ≈ 0.
    assert!(best > 0.8, "best frame-to-frame correlation {best}");
    assert!(median > 0.35, "median frame-to-frame correlation {median}");
    let unrelated = correlation(clip.frame(&clip.clean, 0), other.frame(&other.clean, 0), |k| myo(0, k));
    assert!(unrelated.abs() < 0.3, "different seeds correlate: {unrelated}");
}

#[test]
fn hypokinesis_reduces_contraction() {
    let config = SimConfig { frames: 16, ..small(ClutterKind::None) };
    // Blood-pool area at its largest over smallest: lower with a hypokinetic segment.
    let ratio = |motion: MotionPattern, seed: u64| {
        let clip = simulate(SimConfig { motion, ..config.clone() }, seed);
        let areas: Vec<usize> =
            (0..clip.frames).map(|t| clip.frame(&clip.labels, t).iter().filter(|&&l| l == 2.0).count()).collect();
        let (lo, hi) = (areas.iter().min().copied().unwrap_or(0), areas.iter().max().copied().unwrap_or(0));
        hi as f32 / lo.max(1) as f32
    };
    for seed in [70, 71] {
        let normal = ratio(MotionPattern::Normal, seed);
        assert!(normal > 1.3, "seed {seed}: normal area change {normal}");
        for motion in [MotionPattern::Lad, MotionPattern::Lcx] {
            let hypo = ratio(motion, seed);
            assert!(hypo < normal, "seed {seed} {motion:?}: {hypo} vs normal {normal}");
        }
    }
}

#[test]
fn invalid_configs_are_typed_errors() {
    let cases: [(&str, SimConfig); 6] = [
        ("width", SimConfig { width: 0, ..SimConfig::default() }),
        ("height", SimConfig { height: 5000, ..SimConfig::default() }),
        ("frames", SimConfig { frames: 1, ..SimConfig::default() }),
        ("polar_samples", SimConfig { polar_samples: 8, ..SimConfig::default() }),
        ("polar_beams", SimConfig { polar_beams: 2, ..SimConfig::default() }),
        ("scatterers_per_cell", SimConfig { scatterers_per_cell: f32::NAN, ..SimConfig::default() }),
    ];
    for (name, config) in cases {
        match Simulator::new(config) {
            Err(SimError::InvalidConfig { field, .. }) => assert_eq!(field, name),
            other => panic!("{name}: expected InvalidConfig, got {other:?}"),
        }
    }
    assert!(Simulator::new(SimConfig::default()).is_ok());
}
