//! Records name files by their file name, never by a path that exists only on the machine
//! that measured them: the model (identified by its size and content hash besides its
//! name), the engine's executable, every absolute path on the engine's command line, and
//! the install paths of the engine's build description. [`Record::make_portable`] is the
//! one place that does it: every record writer calls it, and so does the migration of
//! records written before (`calibration migrate-records`).

use crate::record::{EngineRun, Record};

/// The file name of `path` (its last component); a path without one (empty, `/`, ending in
/// `..`) is kept as it is.
pub fn file_name(path: &str) -> String {
    std::path::Path::new(path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.to_string())
}

/// Whether `s` is an absolute path (and not, say, a prompt that starts with a slash).
fn is_absolute_path(s: &str) -> bool {
    s.starts_with('/') && s.len() > 1 && !s.chars().any(char::is_whitespace)
}

/// A command-line argument without machine paths: an absolute path becomes its file name,
/// in `--flag=/abs/path` form too; anything else is kept.
pub fn portable_arg(arg: &str) -> String {
    if is_absolute_path(arg) {
        return file_name(arg);
    }
    match arg.split_once('=') {
        Some((flag, value)) if flag.starts_with('-') && is_absolute_path(value) => {
            format!("{flag}={}", file_name(value))
        }
        _ => arg.to_string(),
    }
}

/// An engine build description (the JSON text of `engine.json`, as [`EngineRun::build`]
/// holds it) whose top-level string values that are absolute paths (`bin`) are file names.
/// Text that is not a JSON object, or that names no absolute path, is returned unchanged.
pub fn portable_build(build: &str) -> String {
    let Ok(serde_json::Value::Object(mut map)) = serde_json::from_str(build) else {
        return build.to_string();
    };
    let mut changed = false;
    for value in map.values_mut() {
        if let serde_json::Value::String(s) = value {
            if is_absolute_path(s) {
                *s = file_name(s);
                changed = true;
            }
        }
    }
    if changed {
        serde_json::Value::Object(map).to_string()
    } else {
        build.to_string()
    }
}

impl EngineRun {
    /// Removes machine paths from the command line and the build description: the
    /// executable (the first argument) and the model (`model_path`, as it was given) become
    /// their file names, and so does any other absolute path.
    pub fn make_portable(&mut self, model_path: &str) {
        for (i, arg) in self.argv.iter_mut().enumerate() {
            *arg = if i == 0 || (!model_path.is_empty() && arg == model_path) {
                file_name(arg)
            } else {
                portable_arg(arg)
            };
        }
        self.build = portable_build(&self.build);
    }
}

impl Record {
    /// Removes machine paths from the record: the model's path becomes its file name (its
    /// size and hash identify it), and the engine's command line and build description
    /// lose theirs ([`EngineRun::make_portable`]). Idempotent; changes nothing else.
    pub fn make_portable(&mut self) {
        if let Some(engine) = &mut self.engine {
            engine.make_portable(&self.model.path);
        }
        self.model.path = file_name(&self.model.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_become_file_names_and_other_arguments_stay() {
        assert_eq!(file_name("/data/cache/memcal/models/m.gguf"), "m.gguf");
        assert_eq!(file_name("target/memcal-models/m.gguf"), "m.gguf");
        assert_eq!(file_name("m.gguf"), "m.gguf");
        assert_eq!(file_name(""), "");
        assert_eq!(portable_arg("/x/bin/llama-completion"), "llama-completion");
        assert_eq!(
            portable_arg("--log-file=/tmp/run/x.log"),
            "--log-file=x.log"
        );
        for kept in [
            "-c",
            "4096",
            "Once the the",
            "/ a prompt",
            "q8_0",
            "--temp=0",
            "/",
        ] {
            assert_eq!(portable_arg(kept), kept);
        }
    }

    #[test]
    fn the_build_description_loses_its_install_path_only() {
        let build = r#"{"bin":"/data/cache/memcal/engines/llama.cpp-11434/bin","build_number":11434,"cmake_flags":["-G","Ninja"],"name":"llama.cpp"}"#;
        assert_eq!(
            portable_build(build),
            r#"{"bin":"bin","build_number":11434,"cmake_flags":["-G","Ninja"],"name":"llama.cpp"}"#
        );
        let done = portable_build(build);
        assert_eq!(portable_build(&done), done);
        assert_eq!(portable_build(""), "");
        assert_eq!(portable_build("not json /x"), "not json /x");
    }

    #[test]
    fn an_engine_run_keeps_everything_but_its_paths() {
        let mut run = EngineRun {
            name: "llama.cpp".into(),
            argv: [
                "./build/bin/llama-completion",
                "-m",
                "models/m.gguf",
                "-c",
                "4096",
                "-p",
                "Once the",
            ]
            .map(String::from)
            .to_vec(),
            build: r#"{"bin":"/opt/llama/bin"}"#.into(),
            ..EngineRun::default()
        };
        run.make_portable("models/m.gguf");
        assert_eq!(
            run.argv,
            [
                "llama-completion",
                "-m",
                "m.gguf",
                "-c",
                "4096",
                "-p",
                "Once the"
            ]
        );
        assert_eq!(run.build, r#"{"bin":"bin"}"#);
        assert_eq!(run.name, "llama.cpp");
    }
}
