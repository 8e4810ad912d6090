//! The benchmarked networks with deterministic weights (so ONNX Runtime can load the same ones).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sluice_engine::{Activation, ConvSpec};

/// One convolution layer with its weights `[Cout][Cin][k..]` and bias.
pub struct Layer {
    pub name: &'static str,
    pub spec: ConvSpec,
    pub in_dims: Vec<usize>,
    pub weights: Vec<f32>,
    pub bias: Vec<f32>,
}

impl Layer {
    /// Floats of one input image (channels-last).
    pub fn input_len(&self) -> usize {
        self.in_dims.iter().product::<usize>() * self.spec.in_channels
    }

    /// Spatial output dims before any pixel shuffle.
    pub fn conv_out_dims(&self) -> Vec<usize> {
        let s = &self.spec;
        (0..s.rank())
            .map(|a| {
                let span = s.dilation[a] * (s.kernel[a] - 1) + 1;
                (self.in_dims[a] + s.pad_begin[a] + s.pad_end[a] - span) / s.stride[a] + 1
            })
            .collect()
    }

    /// Floats of one output image (the pixel shuffle keeps the count).
    pub fn output_len(&self) -> usize {
        self.conv_out_dims().iter().product::<usize>() * self.spec.out_channels
    }

    /// Bytes of this layer's im2col matrix (`[pixels][taps·Cin]`).
    pub fn col_bytes(&self) -> usize {
        let s = &self.spec;
        4 * self.conv_out_dims().iter().product::<usize>() * s.in_channels * s.kernel.iter().product::<usize>()
    }

    /// FLOPs (2 × multiply-adds) of one image.
    pub fn flops(&self) -> u64 {
        let s = &self.spec;
        2 * (self.output_len() * s.in_channels / s.groups * s.kernel.iter().product::<usize>()) as u64
    }
}

/// A chain of convolutions run back to back on one image.
pub struct ConvNet {
    pub name: &'static str,
    pub title: &'static str,
    pub layers: Vec<Layer>,
}

/// `n` uniform values in `[-bound, bound)`.
pub fn uniform(rng: &mut StdRng, n: usize, bound: f32) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-bound..bound)).collect()
}

/// A layer with PyTorch-style default init (uniform ±1/√fan_in), seeded by `seed`.
fn layer(name: &'static str, spec: ConvSpec, in_dims: &[usize], seed: u64) -> Layer {
    let mut rng = StdRng::seed_from_u64(seed);
    let fan_in = spec.in_channels / spec.groups * spec.kernel.iter().product::<usize>();
    let bound = 1.0 / (fan_in as f32).sqrt();
    let weights = uniform(&mut rng, spec.weight_len(), bound);
    let bias = uniform(&mut rng, spec.out_channels, bound);
    Layer { name, spec, in_dims: in_dims.to_vec(), weights, bias }
}

/// ESPCN ×3 on a 360×640 luma frame: 5×5 1→64 tanh, 3×3 64→32 tanh, 3×3 32→9 + pixel shuffle 3.
pub fn espcn() -> ConvNet {
    let hw = [360, 640];
    ConvNet {
        name: "espcn",
        title: "ESPCN x3, 1x360x640 -> 1080x1920",
        layers: vec![
            layer("l1", ConvSpec::new(1, 64, &[5, 5]).same_padding().activation(Activation::Tanh), &hw, 11),
            layer("l2", ConvSpec::new(64, 32, &[3, 3]).same_padding().activation(Activation::Tanh), &hw, 12),
            layer("l3", ConvSpec::new(32, 9, &[3, 3]).same_padding().pixel_shuffle(3), &hw, 13),
        ],
    }
}

/// Conv3d 16→16 3×3×3 on a 16×128×128 clip of 16 channels, same padding.
pub fn conv3d() -> ConvNet {
    ConvNet {
        name: "conv3d",
        title: "Conv3d 16->16 3x3x3 on 16x16x128x128",
        layers: vec![layer("conv", ConvSpec::new(16, 16, &[3, 3, 3]).same_padding(), &[16, 128, 128], 21)],
    }
}

/// Every convolution workload.
pub fn conv_nets() -> Vec<ConvNet> {
    vec![espcn(), conv3d()]
}
