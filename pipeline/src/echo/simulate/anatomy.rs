//! The apical-view heart and its motion: a U-shaped left-ventricular shell (half ellipses for
//! endo- and epicardium, apex towards the probe), pericardium, optional right ventricle and left
//! atrium, and a smooth periodic deformation that maps any reference point to its position in a
//! frame. Scatterers live in the reference (end-diastolic) frame and are moved by [`Heart::map`],
//! so speckle follows the tissue.

use super::config::MotionPattern;
use super::params::HeartParams;

/// How far the epicardial displacement reaches into the surrounding tissue, mm.
const OUTSIDE_DECAY_MM: f32 = 8.0;
/// How far the base's longitudinal displacement reaches below the mitral plane, mm.
const BELOW_BASE_DECAY_MM: f32 = 25.0;
/// Gap between the mitral plane and the left atrium, mm.
const ANNULUS_MM: f32 = 6.0;
/// Right-ventricular and atrial wall thickness, mm.
const THIN_WALL_MM: f32 = 3.5;
/// Reflectivity of the right-ventricular and atrial walls.
const THIN_WALL_REFLECTIVITY: f32 = 0.8;
/// Reflectivity of the myocardium (the reference level).
pub(crate) const MYOCARDIUM: f32 = 1.0;

/// Tissue class of a point, for the CNR metric (stored as the `labels` array).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Label {
    /// Anything else (including outside the fan).
    Other = 0,
    /// Left-ventricular myocardium.
    Myocardium = 1,
    /// Left-ventricular blood pool.
    Blood = 2,
}

/// The deformation state of one frame.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pose {
    /// Contraction, 0 at end-diastole, 1 at end-systole.
    s: f32,
    /// Apex-to-base distance, mm.
    base: f32,
}

/// The heart of one clip.
#[derive(Debug, Clone)]
pub(crate) struct Heart {
    apex: (f32, f32),
    cos_t: f32,
    sin_t: f32,
    /// End-diastolic endocardial half width and apex-to-base length, wall thickness, mm.
    a0: f32,
    b0: f32,
    w0: f32,
    long_shortening: f32,
    radial_shortening: f32,
    thickening: f32,
    systole: f32,
    start_phase: f32,
    hypokinesis: f32,
    /// Hypokinetic segment (centre, half width) in radians.
    segment: Option<(f32, f32)>,
    blood: f32,
    pericardium: f32,
    background: f32,
    peri_in: f32,
    peri_out: f32,
    rv: Option<Ellipse>,
    la: Option<Ellipse>,
}

/// An axis-aligned ellipse in the heart's local frame.
#[derive(Debug, Clone, Copy)]
struct Ellipse {
    cu: f32,
    cv: f32,
    a: f32,
    b: f32,
}

impl Ellipse {
    /// Normalised radius: < 1 inside.
    fn rho(&self, u: f32, v: f32) -> f32 {
        ((u - self.cu) / self.a).hypot((v - self.cv) / self.b)
    }

    /// Normalised radius of the ellipse grown by `d` mm.
    fn rho_grown(&self, u: f32, v: f32, d: f32) -> f32 {
        ((u - self.cu) / (self.a + d)).hypot((v - self.cv) / (self.b + d))
    }
}

/// Radius of the ellipse with half axes `a` (lateral) and `b` (axial) in direction (sin ψ, cos ψ).
fn ellipse_radius(a: f32, b: f32, sin_psi: f32, cos_psi: f32) -> f32 {
    1.0 / (sin_psi / a).hypot(cos_psi / b)
}

impl Heart {
    pub fn new(p: &HeartParams, motion: MotionPattern) -> Self {
        let tilt = p.tilt_deg.to_radians();
        let b0 = p.base_z_mm - p.apex_z_mm;
        let a0 = p.endo_half_width_mm;
        let w0 = p.wall_mm;
        // Volume ∝ width² × length: EF = 1 − (1 − radial)² (1 − longitudinal).
        let radial_shortening = 1.0 - ((1.0 - p.ejection_fraction) / (1.0 - p.long_shortening)).sqrt();
        let rv = (p.rv_half_width_mm > 0.0).then_some(Ellipse {
            cu: -(a0 + w0 + p.rv_half_width_mm),
            cv: b0,
            a: p.rv_half_width_mm,
            b: 0.75 * b0,
        });
        let la = (p.la_half_width_mm > 0.0).then_some(Ellipse {
            cu: 0.0,
            cv: b0 + ANNULUS_MM + 0.9 * p.la_half_width_mm,
            a: p.la_half_width_mm,
            b: 0.9 * p.la_half_width_mm,
        });
        Self {
            apex: (p.apex_x_mm, p.apex_z_mm),
            cos_t: tilt.cos(),
            sin_t: tilt.sin(),
            a0,
            b0,
            w0,
            long_shortening: p.long_shortening,
            radial_shortening,
            thickening: p.thickening,
            systole: p.systole_fraction,
            start_phase: p.start_phase,
            hypokinesis: p.hypokinesis,
            segment: motion.segment_deg().map(|(c, hw)| (c.to_radians(), hw.to_radians())),
            blood: p.blood,
            pericardium: p.pericardium,
            background: p.background,
            peri_in: p.pericardium_gap_mm,
            peri_out: p.pericardium_gap_mm + p.pericardium_mm,
            rv,
            la,
        }
    }

    /// The pose of frame `t` of `frames` (one cardiac cycle per clip): a smooth contraction
    /// s(φ) rising over systole and relaxing over diastole.
    pub fn pose(&self, t: usize, frames: usize) -> Pose {
        let phase = (self.start_phase + t as f32 / frames as f32).fract();
        let pi = std::f32::consts::PI;
        let s = if phase < self.systole {
            0.5 * (1.0 - (pi * phase / self.systole).cos())
        } else {
            0.5 * (1.0 + (pi * (phase - self.systole) / (1.0 - self.systole)).cos())
        };
        Pose { s, base: self.b0 * (1.0 - self.long_shortening * s) }
    }

    /// Probe frame (x lateral, z depth, mm) → heart frame (u across, v along the long axis from
    /// the apex).
    pub fn to_local(&self, x: f32, z: f32) -> (f32, f32) {
        let (dx, dz) = (x - self.apex.0, z - self.apex.1);
        (dx * self.cos_t - dz * self.sin_t, dx * self.sin_t + dz * self.cos_t)
    }

    /// Heart frame → probe frame.
    pub fn to_probe(&self, u: f32, v: f32) -> (f32, f32) {
        (self.apex.0 + u * self.cos_t + v * self.sin_t, self.apex.1 - u * self.sin_t + v * self.cos_t)
    }

    /// Motion scale of direction ψ: 1, or down to `hypokinesis` inside the hypokinetic segment.
    fn motion_scale(&self, psi: f32) -> f32 {
        match self.segment {
            Some((centre, half)) if (psi - centre).abs() < half => {
                let bump = (0.5 * std::f32::consts::PI * (psi - centre) / half).cos().powi(2);
                1.0 - (1.0 - self.hypokinesis) * bump
            }
            _ => 1.0,
        }
    }

    /// Endo- and epicardial radii in direction ψ at reference and current pose.
    fn radii(&self, pose: Pose, psi: f32, sin_psi: f32, cos_psi: f32) -> [f32; 4] {
        let k = self.motion_scale(psi);
        let a = self.a0 * (1.0 - self.radial_shortening * k * pose.s);
        let w = self.w0 * (1.0 + self.thickening * k * pose.s);
        [
            ellipse_radius(self.a0, self.b0, sin_psi, cos_psi),
            ellipse_radius(self.a0 + self.w0, self.b0 + self.w0, sin_psi, cos_psi),
            ellipse_radius(a, pose.base, sin_psi, cos_psi),
            ellipse_radius(a + w, pose.base + w, sin_psi, cos_psi),
        ]
    }

    /// Where reference point (u, v) is at `pose`. Inside the LV, radii scale between the moving
    /// endo- and epicardium along rays from the (moving) base centre; outside, the epicardial
    /// displacement decays over a few mm; below the mitral plane, the base's shortening decays.
    pub fn map(&self, pose: Pose, u: f32, v: f32) -> (f32, f32) {
        let half_pi = std::f32::consts::FRAC_PI_2;
        if v < self.b0 {
            let dv = v - self.b0;
            let r = u.hypot(dv);
            if r <= f32::EPSILON {
                return (0.0, pose.base);
            }
            let (sin_psi, cos_psi) = (u / r, -dv / r);
            let psi = if self.segment.is_some() { u.atan2(-dv) } else { 0.0 };
            let [endo0, epi0, endo, epi] = self.radii(pose, psi, sin_psi, cos_psi);
            let along = |radius: f32| (radius * sin_psi, pose.base - radius * cos_psi);
            if r <= endo0 {
                along(r * endo / endo0)
            } else if r <= epi0 {
                along(endo + (r - endo0) / (epi0 - endo0) * (epi - endo))
            } else {
                let (u2, v2) = along(r + epi - epi0);
                let d = (-(r - epi0) / OUTSIDE_DECAY_MM).exp();
                (u + (u2 - u) * d, v + (v2 - v) * d)
            }
        } else {
            let au = u.abs();
            let psi = if u < 0.0 { -half_pi } else { half_pi };
            let [endo0, epi0, endo, epi] = self.radii(pose, psi, 1.0, 0.0);
            let (au2, decay) = if au <= endo0 {
                (au * endo / endo0, 1.0)
            } else if au <= epi0 {
                (endo + (au - endo0) / (epi0 - endo0) * (epi - endo), 1.0)
            } else {
                let d = (-(au - epi0) / OUTSIDE_DECAY_MM).exp();
                (au + (epi - epi0) * d, d)
            };
            let v2 = v + (pose.base - self.b0) * (-(v - self.b0) / BELOW_BASE_DECAY_MM).exp() * decay;
            (au2.copysign(u), v2)
        }
    }

    /// Tissue class of the point (u, v) of the current frame at `pose`.
    pub fn label(&self, pose: Pose, u: f32, v: f32) -> Label {
        if v >= pose.base {
            return Label::Other;
        }
        let dv = v - pose.base;
        let r = u.hypot(dv);
        if r <= f32::EPSILON {
            return Label::Blood;
        }
        let psi = if self.segment.is_some() { u.atan2(-dv) } else { 0.0 };
        let [_, _, endo, epi] = self.radii(pose, psi, u / r, -dv / r);
        if r < endo {
            Label::Blood
        } else if r < epi {
            Label::Myocardium
        } else {
            Label::Other
        }
    }

    /// Mean reflectivity at reference point (u, v).
    pub fn reflectivity(&self, u: f32, v: f32) -> f32 {
        if v < self.b0 {
            let dv = v - self.b0;
            let r = u.hypot(dv).max(f32::EPSILON);
            let (sin_psi, cos_psi) = (u / r, -dv / r);
            let endo = ellipse_radius(self.a0, self.b0, sin_psi, cos_psi);
            let epi = ellipse_radius(self.a0 + self.w0, self.b0 + self.w0, sin_psi, cos_psi);
            if r < endo {
                return self.blood;
            }
            if r < epi {
                return MYOCARDIUM;
            }
            if let Some(rv) = self.rv.filter(|rv| v < rv.cv) {
                if rv.rho(u, v) < 1.0 {
                    return self.blood;
                }
                if rv.rho_grown(u, v, THIN_WALL_MM) < 1.0 {
                    return THIN_WALL_REFLECTIVITY;
                }
            }
            if (epi + self.peri_in..epi + self.peri_out).contains(&r) {
                return self.pericardium;
            }
        }
        if let Some(la) = self.la {
            if la.rho(u, v) < 1.0 {
                return self.blood;
            }
            if la.rho_grown(u, v, THIN_WALL_MM) < 1.0 {
                return THIN_WALL_REFLECTIVITY;
            }
        }
        self.background
    }
}
