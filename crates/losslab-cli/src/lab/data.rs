//! The data sets shipped in `data/` (scikit-learn's, BSD-3-Clause; see
//! `data/README.md`), embedded in the binary so the report runs anywhere.

use anyhow::{bail, Context, Result};
use ndarray::Array2;

static DIGITS: &str = include_str!("../../../../data/digits.csv");
static DIABETES: &str = include_str!("../../../../data/diabetes.csv");

/// scikit-learn's handwritten digits: 1797 images of 8 × 8 pixels.
#[derive(Debug, Clone)]
pub struct Digits {
    /// Pixels scaled to `[0, 1]` (the raw values are 0 to 16), one row per image.
    pub x: Array2<f64>,
    /// The digit, 0 to 9.
    pub y: Vec<usize>,
}

/// Loads the digits.
///
/// # Errors
/// A malformed file (never for the embedded one; checked by a test).
pub fn digits() -> Result<Digits> {
    let mut x = vec![];
    let mut y = vec![];
    for (i, line) in DIGITS.lines().enumerate().filter(|(_, l)| !l.starts_with('#') && !l.trim().is_empty()) {
        let v: Vec<f64> = line.split(',').map(str::parse).collect::<Result<_, _>>().with_context(|| format!("digits.csv line {}", i + 1))?;
        if v.len() != 65 {
            bail!("digits.csv line {}: {} values, expected 65", i + 1, v.len());
        }
        x.extend(v[..64].iter().map(|p| p / 16.0));
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        y.push(v[64] as usize);
    }
    let n = y.len();
    Ok(Digits { x: Array2::from_shape_vec((n, 64), x)?, y })
}

/// scikit-learn's diabetes data: 442 patients.
#[derive(Debug, Clone)]
pub struct Diabetes {
    /// Body mass index.
    pub bmi: Vec<f64>,
    /// Disease progression one year after baseline.
    pub target: Vec<f64>,
}

/// Loads the diabetes data (BMI and the target).
///
/// # Errors
/// A malformed file (never for the embedded one; checked by a test).
pub fn diabetes() -> Result<Diabetes> {
    let mut lines = DIABETES.lines().filter(|l| !l.starts_with('#'));
    let header: Vec<&str> = lines.next().context("diabetes.csv: no header")?.split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).with_context(|| format!("diabetes.csv: no column {name}"));
    let (ib, it) = (col("bmi")?, col("target")?);
    let (mut bmi, mut target) = (vec![], vec![]);
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let v: Vec<&str> = line.split(',').collect();
        bmi.push(v[ib].parse()?);
        target.push(v[it].parse()?);
    }
    Ok(Diabetes { bmi, target })
}

#[cfg(test)]
mod tests {
    #[test]
    fn shapes() {
        let d = super::digits().unwrap();
        assert_eq!(d.x.dim(), (1797, 64));
        assert!(d.y.iter().all(|&c| c < 10));
        assert!(d.x.iter().all(|&p| (0.0..=1.0).contains(&p)));
        let b = super::diabetes().unwrap();
        assert_eq!((b.bmi.len(), b.target.len()), (442, 442));
    }
}
