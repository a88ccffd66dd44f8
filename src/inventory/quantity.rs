//! Kubernetes resource quantities: parse to base units (cores, bytes) and format back.

use crate::yaml::Value;

/// Parses a quantity (`"100m"`, `"0.5"`, `2`, `"128Mi"`, `"1G"`, `"1e3"`) to base units.
pub(crate) fn parse(v: &Value) -> Option<f64> {
    let s = match v {
        Value::Number(n) => return n.as_f64(),
        Value::String(s) => s.trim(),
        _ => return None,
    };
    const SUFFIXES: &[(&str, f64)] = &[
        ("Ki", 1024.0),
        ("Mi", 1_048_576.0),
        ("Gi", 1_073_741_824.0),
        ("Ti", 1_099_511_627_776.0),
        ("Pi", 1_125_899_906_842_624.0),
        ("Ei", 1_152_921_504_606_846_976.0),
        ("n", 1e-9),
        ("u", 1e-6),
        ("m", 1e-3),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("P", 1e15),
        ("E", 1e18),
    ];
    for (suf, mul) in SUFFIXES {
        if let Some(num) = s.strip_suffix(suf) {
            return num
                .parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .map(|x| x * mul);
        }
    }
    s.parse::<f64>().ok().filter(|x| x.is_finite())
}

/// CPU cores as a quantity string: whole cores when exact, else millicores (rounded up).
pub(crate) fn cpu(cores: f64) -> String {
    let milli = (cores * 1000.0 - 1e-6).ceil() as i64;
    if milli % 1000 == 0 {
        (milli / 1000).to_string()
    } else {
        format!("{milli}m")
    }
}

/// Bytes as a quantity string in Mi (rounded up), or Gi when exact.
pub(crate) fn memory(bytes: f64) -> String {
    let mi = (bytes / 1_048_576.0 - 1e-9).ceil() as i64;
    if mi % 1024 == 0 && mi > 0 {
        format!("{}Gi", mi / 1024)
    } else {
        format!("{mi}Mi")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats() {
        assert_eq!(parse(&view!("100m")), Some(0.1));
        assert_eq!(parse(&view!(2)), Some(2.0));
        assert_eq!(parse(&view!("128Mi")), Some(134_217_728.0));
        assert_eq!(parse(&view!("1G")), Some(1e9));
        assert_eq!(parse(&view!("x")), None);
        assert_eq!(cpu(0.25), "250m");
        assert_eq!(cpu(2.0), "2");
        assert_eq!(memory(134_217_728.0), "128Mi");
        assert_eq!(memory(2.0 * 1_073_741_824.0), "2Gi");
    }
}
