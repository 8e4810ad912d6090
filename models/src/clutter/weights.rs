//! Clutter-filter weights from a safetensors export (`models/train/clutter/export.py`).
//!
//! Tensors (float32, PyTorch Conv3d order `[C_out, C_in, kT, kH, kW]`, biases `[C_out]`), for
//! base width `n0` and `levels` levels, with `c(l) = n0·2^l`:
//! `enc.{l}.0` 3³ → c(l), `enc.{l}.1` 3³ → 2c(l) (the last level is the bottom);
//! decoder `i` (0 = coarsest, gating skip level `l = levels−2−i`, `cx = 2c(l)`, `cg` = the
//! coarser map's channels): `gate.{i}.theta` 3³ stride (1,2,2) cx → cx/2, `gate.{i}.phi` 1³
//! cg → cx/2, `gate.{i}.psi` 1³ cx/2 → 1, `up.{i}` 2³ cg → cg, `dec.{i}.0` 3³ cg+cx → cx,
//! `dec.{i}.1` 3³ cx → cx; `head` 1³ → 1. With `activation` = `prelu` every block conv
//! `enc.{l}.{0,1}` and `dec.{i}.{0,1}` also has `.slope` `[1]`, the finite slope of the PReLU
//! after it (y = x for x ≥ 0, slope·x below); the gates, up-convs and head never have one.
//! Metadata: `n0`, `levels` (required), `step`, `prime` (frames of priming a stream starts with,
//! 0 when absent; see [`ClutterWeights::prime`]), `activation` = `linear` (the default when
//! absent; no slope tensors allowed) or `prelu`, and `temporal_padding` = `causal`,
//! `spatial_padding` = `tf_same` (checked when present: the Rust network implements only these),
//! and optionally the correction gate's `gate_alpha`, `gate_box`, `gate_level` (all three or
//! none; see [`super::gate`]).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use sluice_engine::{Activation, Slope};

use super::gate::GateParams;
use crate::safetensors::SafeTensors;
use crate::{Weight, WeightsError};

/// File name of the network trained by this project (`models/weights/`).
pub const BUNDLED_FILE: &str = "clutter.safetensors";

/// Largest `n0` and `levels` accepted from a file: guards the plan sizes against nonsense.
const MAX_N0: usize = 256;
const MAX_LEVELS: usize = 6;
/// Largest `prime` accepted: priming costs that many extra frames when a stream starts.
const MAX_PRIME: usize = 64;

/// One convolution's kernel (PyTorch order), bias and the activation the file puts after it.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvWeights {
    /// Kernel `[C_out, C_in, kT, kH, kW]`.
    pub weight: Weight,
    /// Bias `[C_out]`.
    pub bias: Weight,
    /// Fused after the conv: [`Activation::Prelu`] with the stored slope for the block convs
    /// of a `prelu` net, else [`Activation::Identity`] (the gates' sigmoid is the
    /// architecture's, applied by the model, not stored).
    pub activation: Activation,
}

impl ConvWeights {
    /// Output channels.
    pub fn out_channels(&self) -> usize {
        self.bias.len()
    }

    fn params(&self) -> usize {
        let slope = usize::from(matches!(self.activation, Activation::Prelu(_)));
        self.weight.len() + self.bias.len() + slope
    }
}

/// What follows each 3³ conv of the encoder and decoder blocks (metadata `activation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BlockActivation {
    /// Nothing: the blocks are linear (the first released nets).
    #[default]
    Linear,
    /// A PReLU with one learned slope per conv (`.slope` tensors).
    Prelu,
}

impl BlockActivation {
    /// The metadata value naming it.
    pub fn name(self) -> &'static str {
        match self {
            BlockActivation::Linear => "linear",
            BlockActivation::Prelu => "prelu",
        }
    }
}

/// The additive attention gate of one decoder level.
#[derive(Debug, Clone, PartialEq)]
pub struct GateWeights {
    /// 3³, stride (1, 2, 2), on the skip: cx → cx/2.
    pub theta: ConvWeights,
    /// 1³ on the gating map: cg → cx/2.
    pub phi: ConvWeights,
    /// 1³ → 1 channel, then sigmoid.
    pub psi: ConvWeights,
}

/// One decoder level: gate, up-conv and the two convs after the concatenation.
#[derive(Debug, Clone, PartialEq)]
pub struct DecoderWeights {
    /// The gate on the skip.
    pub gate: GateWeights,
    /// 2³ after nearest upsampling (1, 2, 2): cg → cg.
    pub up: ConvWeights,
    /// 3³ on concat [up, gated skip]: cg + cx → cx, then 3³ cx → cx.
    pub convs: [ConvWeights; 2],
}

/// The whole network, shape-checked against `n0` and `levels`.
#[derive(Debug, Clone, PartialEq)]
pub struct ClutterWeights {
    /// Base width (channels of the first conv).
    pub n0: usize,
    /// Levels (resolutions) of the U-Net; the last one is the bottom.
    pub levels: usize,
    /// What follows the block convs; with `Prelu` each block conv's
    /// [`ConvWeights::activation`] carries its slope.
    pub activation: BlockActivation,
    /// Optimiser steps of the checkpoint, when the export records them.
    pub step: Option<u64>,
    /// Copies of a stream's first frame run through the network (outputs dropped) before the
    /// frame itself. Why: the causal convs see zero history before the first frame as a cut, so
    /// unprimed the first frames come out worse and the error flickers; the net is trained and
    /// evaluated primed the same way (`model.py`'s `primed`). 0 = no priming.
    pub prime: usize,
    /// The correction gate run after the network ([`super::gate`]), when the file has one.
    pub gate: Option<GateParams>,
    /// Encoder convs per level.
    pub enc: Vec<[ConvWeights; 2]>,
    /// Decoder levels, coarsest first (`levels − 1` of them).
    pub dec: Vec<DecoderWeights>,
    /// 1³ → 1 channel; the output is input + head.
    pub head: ConvWeights,
}

/// Metadata values the network supports, when the file states them.
const FIXED_METADATA: [(&str, &str); 2] = [("temporal_padding", "causal"), ("spatial_padding", "tf_same")];

impl ClutterWeights {
    /// Where [`ClutterWeights::bundled`] looks ([`crate::bundled::path`]: `$SLUICE_MODELS_DIR`,
    /// else the checkout's `models/weights/`).
    pub fn bundled_path() -> PathBuf {
        crate::bundled::path(BUNDLED_FILE)
    }

    /// Loads the network trained by this project.
    pub fn bundled() -> Result<Self, WeightsError> {
        Self::load(Self::bundled_path())
    }

    /// Loads a safetensors file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, WeightsError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| WeightsError::Io { path: path.to_owned(), source })?;
        Self::parse(&bytes, &path.display().to_string())
    }

    /// Decodes the bytes of a safetensors file.
    pub fn from_safetensors(bytes: &[u8]) -> Result<Self, WeightsError> {
        Self::parse(bytes, "<safetensors bytes>")
    }

    fn parse(bytes: &[u8], file: &str) -> Result<Self, WeightsError> {
        let st =
            SafeTensors::parse(bytes).map_err(|source| WeightsError::Safetensors { file: file.to_owned(), source })?;
        let meta_err =
            |key: &'static str, reason: String| WeightsError::Metadata { file: file.to_owned(), key, reason };
        let number = |key: &'static str, max: usize| -> Result<usize, WeightsError> {
            let v = st.metadata(key).ok_or_else(|| meta_err(key, "missing (export.py writes it)".into()))?;
            v.parse::<usize>()
                .ok()
                .filter(|n| (1..=max).contains(n))
                .ok_or_else(|| meta_err(key, format!("{v:?} is not an integer in 1..={max}")))
        };
        let n0 = number("n0", MAX_N0)?;
        let levels = number("levels", MAX_LEVELS)?;
        for (key, want) in FIXED_METADATA {
            if let Some(v) = st.metadata(key)
                && v != want
            {
                return Err(meta_err(key, format!("{v:?} is not supported (only {want:?})")));
            }
        }
        let activation = match st.metadata("activation") {
            None | Some("linear") => BlockActivation::Linear,
            Some("prelu") => BlockActivation::Prelu,
            Some(v) => return Err(meta_err("activation", format!("{v:?} is not supported (\"linear\" or \"prelu\")"))),
        };
        let step = match st.metadata("step") {
            None => None,
            Some(s) => Some(s.parse::<u64>().map_err(|_| meta_err("step", format!("{s:?} is not an integer")))?),
        };
        let prime = match st.metadata("prime") {
            None => 0,
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|n| *n <= MAX_PRIME)
                .ok_or_else(|| meta_err("prime", format!("{v:?} is not an integer in 0..={MAX_PRIME}")))?,
        };
        let gate = match (st.metadata("gate_alpha"), st.metadata("gate_box"), st.metadata("gate_level")) {
            (None, None, None) => None,
            (Some(a), Some(b), Some(l)) => {
                let float = |key: &'static str, v: &str| {
                    v.parse::<f32>().map_err(|_| meta_err(key, format!("{v:?} is not a number")))
                };
                let box_px =
                    b.parse::<usize>().map_err(|_| meta_err("gate_box", format!("{b:?} is not an integer")))?;
                let params = GateParams { alpha: float("gate_alpha", a)?, box_px, level: float("gate_level", l)? };
                params.validate().map_err(|(key, reason)| meta_err(key, reason))?;
                Some(params)
            }
            _ => {
                return Err(meta_err(
                    "gate_alpha",
                    "gate_alpha, gate_box and gate_level come together (export.py --gate writes all three)".into(),
                ));
            }
        };
        let take = |tensor: String, expected: Vec<usize>| -> Result<Weight, WeightsError> {
            let t = st
                .tensor(&tensor)
                .ok_or_else(|| WeightsError::NoTensor { file: file.to_owned(), tensor: tensor.clone() })?;
            if t.shape() != expected.as_slice() {
                return Err(WeightsError::TensorShape {
                    file: file.to_owned(),
                    tensor,
                    expected,
                    found: t.shape().to_vec(),
                });
            }
            Ok(t.clone())
        };
        let conv = |name: String, cout: usize, cin: usize, k: [usize; 3]| -> Result<ConvWeights, WeightsError> {
            Ok(ConvWeights {
                weight: take(format!("{name}.weight"), vec![cout, cin, k[0], k[1], k[2]])?,
                bias: take(format!("{name}.bias"), vec![cout])?,
                activation: Activation::Identity,
            })
        };
        // The slope tensors the file must have; any other `.slope` is a stray.
        let mut slopes = HashSet::new();
        // A 3³ conv of an encoder or decoder block: with `prelu`, its slope too.
        let mut block = |name: String, cout: usize, cin: usize| -> Result<ConvWeights, WeightsError> {
            let mut c = conv(name.clone(), cout, cin, K3)?;
            if activation == BlockActivation::Prelu {
                let tensor = format!("{name}.slope");
                let v = take(tensor.clone(), vec![1])?.data()[0];
                let slope = Slope::new(v).map_err(|e| WeightsError::TensorValue {
                    file: file.to_owned(),
                    tensor: tensor.clone(),
                    reason: e.to_string(),
                })?;
                c.activation = Activation::Prelu(slope);
                slopes.insert(tensor);
            }
            Ok(c)
        };
        const K3: [usize; 3] = [3, 3, 3];
        const K2: [usize; 3] = [2, 2, 2];
        const K1: [usize; 3] = [1, 1, 1];
        let mut enc = Vec::with_capacity(levels);
        let mut cin = 1;
        for l in 0..levels {
            let (c1, c2) = (n0 << l, 2 * (n0 << l));
            enc.push([block(format!("enc.{l}.0"), c1, cin)?, block(format!("enc.{l}.1"), c2, c1)?]);
            cin = c2;
        }
        let mut dec = Vec::with_capacity(levels - 1);
        let mut cg = cin;
        for (i, l) in (0..levels - 1).rev().enumerate() {
            let cx = 2 * (n0 << l);
            let gate = GateWeights {
                theta: conv(format!("gate.{i}.theta"), cx / 2, cx, K3)?,
                phi: conv(format!("gate.{i}.phi"), cx / 2, cg, K1)?,
                psi: conv(format!("gate.{i}.psi"), 1, cx / 2, K1)?,
            };
            let up = conv(format!("up.{i}"), cg, cg, K2)?;
            let convs = [block(format!("dec.{i}.0"), cx, cg + cx)?, block(format!("dec.{i}.1"), cx, cx)?];
            dec.push(DecoderWeights { gate, up, convs });
            cg = cx;
        }
        let head = conv("head".into(), 1, cg, K1)?;
        if let Some(stray) = st.names().find(|n| n.ends_with(".slope") && !slopes.contains(*n)) {
            return Err(WeightsError::StrayTensor {
                file: file.to_owned(),
                tensor: stray.to_owned(),
                reason: format!("activation = {} has slopes only on the block convs", activation.name()),
            });
        }
        Ok(Self { n0, levels, activation, step, prime, gate, enc, dec, head })
    }

    /// Number of parameters, slopes included (305 563 for n0 = 8, 3 levels, linear).
    pub fn params(&self) -> usize {
        let enc: usize = self.enc.iter().flatten().map(ConvWeights::params).sum();
        let dec: usize = self
            .dec
            .iter()
            .map(|d| {
                let g = &d.gate;
                g.theta.params()
                    + g.phi.params()
                    + g.psi.params()
                    + d.up.params()
                    + d.convs.iter().map(ConvWeights::params).sum::<usize>()
            })
            .sum();
        enc + dec + self.head.params()
    }

    /// Frame sides must be multiples of this (each of the `levels − 1` poolings halves them).
    pub fn size_multiple(&self) -> usize {
        1usize << self.levels.saturating_sub(1)
    }
}
