//! Transposed convolution by polyphase decomposition.
//!
//! A stride-s transposed conv is s^d ordinary stride-1 convs ("phases"), one per output
//! residue class, each with the sub-kernel of the taps that land on it (flipped), writing its
//! outputs interleaved into the final tensor through a strided output map. No zeros are
//! inserted and nothing is scattered (no col2im): every phase runs the normal conv kernels.

use crate::activation::Activation;
use crate::conv::{Conv, ConvGeom, ConvSpec, OutMap};
use crate::error::{EngineError, Result, check_len, invalid};
use crate::isa::Isa;
use crate::outptr::OutPtr;
use crate::threads::Threads;

const OP: &str = "conv_transpose";

/// A transposed convolution layer (ONNX `ConvTranspose`), 1-, 2- or 3-D, channels-last.
///
/// Weights are `[Cin][Cout/groups][k0][k1][k2]` (ONNX/PyTorch order). Output size per axis:
/// `(in − 1)·s − pad_begin − pad_end + d·(k − 1) + 1 + output_padding`.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvTransposeSpec {
    /// Input channels.
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Kernel size per spatial dim (outermost first).
    pub kernel: Vec<usize>,
    /// Stride (upsampling factor) per spatial dim.
    pub stride: Vec<usize>,
    /// Dilation per spatial dim.
    pub dilation: Vec<usize>,
    /// Output cropped at the start, per spatial dim.
    pub pad_begin: Vec<usize>,
    /// Output cropped at the end, per spatial dim.
    pub pad_end: Vec<usize>,
    /// Extra output added at the end, per spatial dim (must be < stride or < dilation).
    pub output_padding: Vec<usize>,
    /// Channel groups.
    pub groups: usize,
    /// Activation fused into the store.
    pub activation: Activation,
}

impl ConvTransposeSpec {
    /// Stride-1, unpadded transposed conv.
    pub fn new(in_channels: usize, out_channels: usize, kernel: &[usize]) -> Self {
        let r = kernel.len();
        Self {
            in_channels,
            out_channels,
            kernel: kernel.to_vec(),
            stride: vec![1; r],
            dilation: vec![1; r],
            pad_begin: vec![0; r],
            pad_end: vec![0; r],
            output_padding: vec![0; r],
            groups: 1,
            activation: Activation::Identity,
        }
    }
    /// Sets the stride.
    pub fn stride(mut self, s: &[usize]) -> Self {
        self.stride = s.to_vec();
        self
    }
    /// Sets the dilation.
    pub fn dilation(mut self, d: &[usize]) -> Self {
        self.dilation = d.to_vec();
        self
    }
    /// Sets the output cropping (ONNX `pads`).
    pub fn padding(mut self, begin: &[usize], end: &[usize]) -> Self {
        self.pad_begin = begin.to_vec();
        self.pad_end = end.to_vec();
        self
    }
    /// Sets ONNX `output_padding`.
    pub fn output_padding(mut self, p: &[usize]) -> Self {
        self.output_padding = p.to_vec();
        self
    }
    /// Sets the group count.
    pub fn groups(mut self, g: usize) -> Self {
        self.groups = g;
        self
    }
    /// Sets the fused activation.
    pub fn activation(mut self, a: Activation) -> Self {
        self.activation = a;
        self
    }
    /// Weight element count: `Cin · Cout/groups · Πk`.
    pub fn weight_len(&self) -> usize {
        self.in_channels * (self.out_channels / self.groups.max(1)) * self.kernel.iter().product::<usize>()
    }
}

/// One residue class of outputs: either an ordinary conv, or (no tap lands there) bias only.
#[derive(Debug, Clone)]
enum Phase {
    Conv(Box<Conv>),
    BiasOnly(OutMap, [usize; 3]),
}

/// An immutable transposed-convolution plan.
#[derive(Debug, Clone)]
pub struct ConvTranspose {
    phases: Vec<Phase>,
    in_len: usize,
    out_dims: Vec<usize>,
    out_len: usize,
    cout: usize,
    bias: Vec<f32>,
    act: Activation,
}

/// Per-axis description of one phase.
#[derive(Debug, Clone, Copy)]
struct AxisPhase {
    /// Tap indices of the original kernel landing on this phase, ascending: k0 + j·kstep.
    k0: usize,
    kstep: usize,
    taps: usize,
    /// Zero-weight taps before the real ones, and the sub-kernel's total length.
    lead: usize,
    total: usize,
    /// Input dilation of the sub-conv.
    dil: usize,
    pad_begin: usize,
    pad_end: usize,
    /// Outputs in this phase and where the first one lands.
    count: usize,
    first_out: usize,
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// Works out phase `phi` of one axis. `None` when the phase has no outputs.
fn axis_phase(
    phi: usize,
    n_in: usize,
    n_out: usize,
    k: usize,
    s: usize,
    d: usize,
    pb: usize,
) -> Result<Option<AxisPhase>> {
    // Outputs o with (o + pb) mod s == phi: o = m·s + phi − pb.
    let m0 = if pb >= phi { (pb - phi).div_ceil(s) } else { 0 };
    let first = m0 * s + phi;
    if first < pb || first - pb >= n_out {
        return Ok(None);
    }
    let first_out = first - pb;
    let count = (n_out - first_out).div_ceil(s);
    // Taps k with k·d ≡ phi (mod s); they repeat every s/gcd(d, s) taps.
    let kstep = s / gcd(d, s);
    let k0 = (0..kstep.min(k)).find(|&kk| (kk * d) % s == phi);
    let Some(k0) = k0 else {
        return Ok(Some(AxisPhase {
            k0: 0,
            kstep,
            taps: 0,
            lead: 0,
            total: 0,
            dil: 1,
            pad_begin: 0,
            pad_end: 0,
            count,
            first_out,
        }));
    };
    let taps = (k - k0).div_ceil(kstep);
    // Input index for output m and tap j: i = m − t0 − j·dil, with t0 = (k0·d − phi)/s.
    let t0 = (k0 * d - phi) / s;
    let dil = kstep * d / s;
    let span = (taps - 1) * dil;
    // Sub-conv (flipped kernel, stride 1): reads x[m − (t0 + span) + j'·dil], for m = m0.. .
    // When the crop starts past the kernel's reach (m0 > t0 + span) the sub-conv would need a
    // negative padding; zero-weight taps at the front (and likewise at the back) keep it a plain conv.
    let p = t0 + span;
    let lead = if m0 > p { (m0 - p).div_ceil(dil) } else { 0 };
    let pad_begin = p + lead * dil - m0;
    let mut total = lead + taps;
    let mut end = (count + (total - 1) * dil) as isize - n_in as isize - pad_begin as isize;
    if end < 0 {
        let trail = (-end as usize).div_ceil(dil);
        total += trail;
        end += (trail * dil) as isize;
    }
    Ok(Some(AxisPhase { k0, kstep, taps, lead, total, dil, pad_begin, pad_end: end as usize, count, first_out }))
}

impl ConvTranspose {
    /// Plans `spec` for inputs of spatial size `input_dims` with the active ISA tier.
    pub fn new(spec: &ConvTransposeSpec, input_dims: &[usize], weights: &[f32], bias: Option<&[f32]>) -> Result<Self> {
        Self::with_isa(Isa::active(), spec, input_dims, weights, bias)
    }

    /// Plans with an explicit ISA tier.
    pub fn with_isa(
        isa: Isa,
        spec: &ConvTransposeSpec,
        input_dims: &[usize],
        weights: &[f32],
        bias: Option<&[f32]>,
    ) -> Result<Self> {
        let rank = spec.kernel.len();
        if !(1..=3).contains(&rank) {
            return Err(invalid(OP, format!("rank must be 1, 2 or 3, got {rank}")));
        }
        for (name, v) in [
            ("stride", &spec.stride),
            ("dilation", &spec.dilation),
            ("pad_begin", &spec.pad_begin),
            ("pad_end", &spec.pad_end),
            ("output_padding", &spec.output_padding),
        ] {
            if v.len() != rank {
                return Err(invalid(OP, format!("{name} has {} dims, kernel has {rank}", v.len())));
            }
        }
        if input_dims.len() != rank {
            return Err(invalid(OP, format!("input has {} dims, kernel has {rank}", input_dims.len())));
        }
        let (cin, cout, g) = (spec.in_channels, spec.out_channels, spec.groups);
        if cin == 0 || cout == 0 || g == 0 || cin % g != 0 || cout % g != 0 {
            return Err(invalid(OP, format!("groups {g} must divide in_channels {cin} and out_channels {cout}")));
        }
        if spec.kernel.contains(&0) || spec.stride.contains(&0) || spec.dilation.contains(&0) || input_dims.contains(&0)
        {
            return Err(invalid(OP, "kernel, stride, dilation and input dims must be at least 1"));
        }
        if weights.len() != spec.weight_len() {
            return Err(EngineError::WeightShape {
                op: OP,
                tensor: "weights",
                expected: spec.weight_len(),
                got: weights.len(),
            });
        }
        if let Some(b) = bias
            && b.len() != cout
        {
            return Err(EngineError::WeightShape { op: OP, tensor: "bias", expected: cout, got: b.len() });
        }
        let isa = isa.require()?;
        let norm = |v: &[usize], f: usize| {
            let mut a = [f; 3];
            a[3 - rank..].copy_from_slice(v);
            a
        };
        let (k, s, d) = (norm(&spec.kernel, 1), norm(&spec.stride, 1), norm(&spec.dilation, 1));
        let (pb, pe, op) = (norm(&spec.pad_begin, 0), norm(&spec.pad_end, 0), norm(&spec.output_padding, 0));
        let ind = norm(input_dims, 1);
        let mut outd = [1usize; 3];
        for a in 0..3 {
            if op[a] >= s[a].max(d[a]) {
                return Err(invalid(OP, format!("output_padding {} must be < stride or dilation on axis {a}", op[a])));
            }
            let full = (ind[a] - 1) * s[a] + d[a] * (k[a] - 1) + 1 + op[a];
            if full <= pb[a] + pe[a] {
                return Err(invalid(OP, format!("padding removes the whole output on axis {a}")));
            }
            outd[a] = full - pb[a] - pe[a];
        }
        let (cin_g, cout_g) = (cin / g, cout / g);
        let out_strides = [outd[1] * outd[2] * cout, outd[2] * cout, cout];
        let mut phases = Vec::new();
        for pd in 0..s[0] {
            for ph in 0..s[1] {
                for pw in 0..s[2] {
                    let mut ax = [None; 3];
                    for (a, phi) in [pd, ph, pw].into_iter().enumerate() {
                        ax[a] = axis_phase(phi, ind[a], outd[a], k[a], s[a], d[a], pb[a])?;
                    }
                    let [Some(a0), Some(a1), Some(a2)] = ax else { continue };
                    let axes = [a0, a1, a2];
                    let map = OutMap {
                        offset: (0..3).map(|a| axes[a].first_out * out_strides[a]).sum(),
                        strides: [s[0] * out_strides[0], s[1] * out_strides[1], s[2] * out_strides[2]],
                        chan: None,
                    };
                    let counts = [a0.count, a1.count, a2.count];
                    if axes.iter().any(|a| a.taps == 0) {
                        phases.push(Phase::BiasOnly(map, counts));
                        continue;
                    }
                    let sub_k: Vec<usize> = axes.iter().map(|a| a.total).collect();
                    let conv_spec = ConvSpec::new(cin, cout, &sub_k[3 - rank..])
                        .dilation(&axes.iter().map(|a| a.dil).collect::<Vec<_>>()[3 - rank..])
                        .padding(
                            &axes.iter().map(|a| a.pad_begin).collect::<Vec<_>>()[3 - rank..],
                            &axes.iter().map(|a| a.pad_end).collect::<Vec<_>>()[3 - rank..],
                        )
                        .groups(g)
                        .activation(spec.activation);
                    let geom = ConvGeom::new(OP, &conv_spec, input_dims)?;
                    debug_assert_eq!(geom.out_dims, counts);
                    let taps = sub_k.iter().product::<usize>();
                    let mut w = vec![0.0f32; cout * cin_g * taps];
                    for co in 0..cout {
                        let (grp, col) = (co / cout_g, co % cout_g);
                        for ci in 0..cin_g {
                            for j0 in 0..sub_k[0] {
                                for j1 in 0..sub_k[1] {
                                    for j2 in 0..sub_k[2] {
                                        // flipped: sub-tap j' (past the `lead` zero taps) uses original
                                        // tap k0 + (taps−1−(j'−lead))·kstep; taps outside stay zero.
                                        let kk = |a: usize, j: usize| {
                                            let ax = &axes[a];
                                            (j >= ax.lead && j < ax.lead + ax.taps)
                                                .then(|| ax.k0 + (ax.taps - 1 - (j - ax.lead)) * ax.kstep)
                                        };
                                        let (Some(k0i), Some(k1i), Some(k2i)) = (kk(0, j0), kk(1, j1), kk(2, j2))
                                        else {
                                            continue;
                                        };
                                        let src = ((((grp * cin_g + ci) * cout_g + col) * k[0] + k0i) * k[1] + k1i)
                                            * k[2]
                                            + k2i;
                                        let dst = ((co * cin_g + ci) * sub_k[0] + j0) * sub_k[1] * sub_k[2]
                                            + j1 * sub_k[2]
                                            + j2;
                                        w[dst] = weights[src];
                                    }
                                }
                            }
                        }
                    }
                    phases.push(Phase::Conv(Box::new(Conv::build(isa, geom, map, spec.activation, &w, bias)?)));
                }
            }
        }
        let in_len = ind.iter().product::<usize>() * cin;
        let out_len = outd.iter().product::<usize>() * cout;
        Ok(Self {
            phases,
            in_len,
            out_dims: outd[3 - rank..].to_vec(),
            out_len,
            cout,
            bias: bias.map_or_else(|| vec![0.0; cout], <[f32]>::to_vec),
            act: spec.activation,
        })
    }

    /// Output spatial dims, outermost first.
    pub fn output_dims(&self) -> &[usize] {
        &self.out_dims
    }

    /// Elements of one input image.
    pub fn input_len(&self) -> usize {
        self.in_len
    }

    /// Elements of one output image.
    pub fn output_len(&self) -> usize {
        self.out_len
    }

    /// Scratch floats [`ConvTranspose::run`] needs with `threads`.
    pub fn scratch_len(&self, threads: &Threads) -> usize {
        self.phases
            .iter()
            .map(|p| match p {
                Phase::Conv(c) => c.scratch_len(threads),
                Phase::BiasOnly(..) => 0,
            })
            .max()
            .unwrap_or(0)
    }

    /// Runs on `n ≥ 1` images (`input` = n·input_len, `output` = n·output_len).
    pub fn run(&self, input: &[f32], output: &mut [f32], scratch: &mut [f32], threads: &Threads) -> Result<()> {
        if input.is_empty() || !input.len().is_multiple_of(self.in_len) {
            return Err(EngineError::BufferLength { op: OP, buffer: "input", expected: self.in_len, got: input.len() });
        }
        let n = input.len() / self.in_len;
        check_len(OP, "output", n * self.out_len, output.len())?;
        let need = self.scratch_len(threads);
        if scratch.len() < need {
            return Err(EngineError::BufferLength { op: OP, buffer: "scratch", expected: need, got: scratch.len() });
        }
        let out = OutPtr::new(output);
        for phase in &self.phases {
            match phase {
                Phase::Conv(c) => c.run_mapped(input, n, out, self.out_len, scratch, threads)?,
                Phase::BiasOnly(map, counts) => {
                    for img in 0..n {
                        for z in 0..counts[0] {
                            for y in 0..counts[1] {
                                for x in 0..counts[2] {
                                    let base = img * self.out_len + map.pixel(z, y, x);
                                    for c in 0..self.cout {
                                        // SAFETY: the map addresses this phase's own output pixels, in bounds.
                                        unsafe { out.write(base + c, self.act.apply(self.bias[c])) };
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }
}
