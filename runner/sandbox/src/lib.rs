//! The wasmtime sandbox host: screens, compiles and runs task modules under
//! deterministic limits.
//!
//! One [`Sandbox`] holds one [`Engine`] with a pooling instance allocator and
//! copy-on-write memory images; each loaded module keeps an [`InstancePre`],
//! so starting a task instance is a pool-slot grab and a few calls. Every way
//! a task can end maps to a distinct [`Outcome`], and none of them is an error
//! of the run: a hostile module cannot stop the runner.
//!
//! This crate is the only one in the workspace that links wasmtime. It knows
//! nothing of hardware profiles, suites or agents: the runner turns a profile
//! into [`SandboxLimits`] and drives the [`Conversation`], so a verifier's
//! build can leave the whole crate out.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
// A `pub` item must be reachable from outside the crate; anything else says
// `pub(crate)`, so the public face of each crate is what it declares.
#![warn(unreachable_pub)]

pub mod tools;

/// The cache of compiled modules a [`Sandbox`] may load from
/// ([`Sandbox::with_module_cache`]).
pub use airlock_module_cache as module_cache;
use airlock_module_cache::{ModuleCache, Source};

use core::fmt;
use core::sync::atomic::{AtomicBool, Ordering};
use core::time::Duration;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use airlock_core::abi::{
    self, ModelReply, Prompt, StartArgs, Step, TaskInfo, ToolCall, ToolMode, ToolResult,
};
use airlock_core::outcome::{AbiViolation, ModelErrorKind, Outcome, TrapKind};
use airlock_core::record::{TokenTotals, TokenUsage};
use airlock_core::transcript::Turn;
use airlock_core::{Digest, Ppm};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, InstancePre, Linker, Memory, Module, OperatorCost,
    PoolingAllocationConfig, ResourceLimiter, Store, Trap, TypedFunc, UpdateDeadline,
};

/// How often the epoch ticker advances the engine's epoch. Each tick makes a
/// running guest look at the clock; the backstop itself is a deadline on
/// [`Instant`], so a tick that comes late (a loaded host) delays the check by
/// that much but does not stretch the backstop.
const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Declares the operators whose flat fuel cost differs from wasmtime's
/// default of 1, with their WebAssembly names for the engine settings text.
macro_rules! charged_operators {
    ($($field:ident = $name:literal: $cost:expr),* $(,)?) => {
        /// Operators charged more than wasmtime's default of one unit, and
        /// their flat cost, in the order the engine settings text lists them.
        pub const CHARGED_OPERATORS: &[(&str, u8)] = &[$(($name, $cost)),*];

        fn operator_cost() -> OperatorCost {
            let mut cost = OperatorCost::new();
            $(cost.$field = $cost;)*
            cost
        }
    };
}

// Each of these runs as a call out of compiled code into the host (a
// libcall), tens to hundreds of times dearer than the one unit a plain
// operator costs, even when it does no work at all (a zero-byte fill, a grow
// by 0). Charged one unit, a loop of them spent a budget 100 to 500 times
// slower than plain code, so whether it ended out of fuel or at the
// wall-clock backstop depended on the host. The costs are what each one
// measured against plain code on the reference host, capped at 255 (a u8 in
// wasmtime's table): `profile calibrate` measures the worst one again on the
// host at hand (hardware-profiles/README.md, "Fuel and the backstop").
// Work proportional to an operand (bytes filled or copied, elements grown)
// is charged on top by wasmtime's per-byte and per-element costs (1 each).
charged_operators! {
    MemoryGrow = "memory.grow": 255,
    MemoryFill = "memory.fill": 255,
    MemoryCopy = "memory.copy": 255,
    MemoryInit = "memory.init": 255,
    TableGrow = "table.grow": 255,
    TableFill = "table.fill": 255,
    TableCopy = "table.copy": 255,
    TableInit = "table.init": 255,
    ElemDrop = "elem.drop": 255,
    RefFunc = "ref.func": 255,
}

/// What compiling one module may cost, checked while screening it, before
/// Cranelift sees it. Cranelift's memory and time grow with the size of each
/// function (its IR), with the nesting of blocks in it, with the number of
/// functions (per-function metadata in the compiled artifact) and with the
/// code in all; within the module size limit alone a single module took the
/// runner past 2 GiB. These bounds keep the compile of the largest module that
/// passes within the runner base of hardware-profiles/README.md.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompileBudget {
    /// Most functions a module may define.
    pub functions: u32,
    /// Largest body of one function, in bytes.
    pub function_bytes: u32,
    /// Most bytes of function bodies in all.
    pub code_bytes: u32,
    /// Most locals one function may declare (beside its parameters).
    pub locals: u32,
    /// Deepest nesting of `block`, `loop`, `if` and `try_table` in one function.
    pub nesting: u32,
    /// Most blocks and branches (`block`, `loop`, `if`, `else`, `br`,
    /// `br_if`, `br_table`, `try_table`) in one function: each starts a
    /// basic block, and Cranelift's time grows with the square of their
    /// number in one function (4 000 `if`s took 0.5 s and 19 MiB, 26 000 took
    /// minutes).
    pub branches: u32,
    /// Most blocks and branches in all functions together.
    pub module_branches: u32,
    /// Most `call` and `call_indirect` sites in all functions together:
    /// each leaves a relocation and call-site metadata in the compiled code
    /// (about 570 bytes each; 350 000 of them took 198 MiB).
    pub calls: u32,
    /// Most entries in each of the type, global, export, element and data
    /// sections.
    pub entries: u32,
}

/// The compile budget of every sandbox: the same for every profile, since
/// it bounds the runner's own memory, not a task's.
pub const COMPILE_BUDGET: CompileBudget = CompileBudget {
    functions: 2_000,
    function_bytes: 131_072,
    code_bytes: 1_048_576,
    locals: 4_096,
    nesting: 1_024,
    branches: 4_000,
    module_branches: 20_000,
    calls: 20_000,
    entries: 10_000,
};

/// The limits one sandbox applies; the runner takes them from a hardware
/// profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SandboxLimits {
    /// Fuel for one task instance, across `start` and every `step`.
    pub fuel_per_task: u64,
    /// Largest linear memory of one instance, in bytes.
    pub memory_bytes: u64,
    /// Largest WebAssembly stack, in bytes.
    pub max_wasm_stack_bytes: usize,
    /// Largest guest output (a `Say`, a `TaskInfo`), in bytes.
    pub max_message_bytes: u32,
    /// Model replies are cut to this many bytes.
    pub max_reply_bytes: u32,
    /// Largest module file, in bytes.
    pub max_module_bytes: u32,
    /// Most model turns of one task instance.
    pub max_turns: u32,
    /// Wall-clock backstop for one guest call.
    pub wall_clock_backstop: Duration,
    /// Most instances alive at once (sizes the instance pool).
    pub max_instances: u32,
    /// Most elements a function table may grow to.
    pub max_table_elements: u32,
    /// Token budgets of one task instance's model calls.
    pub tokens: TokenBudget,
}

/// A task instance's token budgets (Inspect's `token_limit`); `None` is no
/// budget. The call whose reported usage passes a budget is the last: the
/// task ends `token-limit`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TokenBudget {
    /// Most prompt plus completion tokens, summed over the calls.
    pub total: Option<u64>,
    /// Most completion tokens, summed over the calls.
    pub completion: Option<u64>,
}

impl TokenBudget {
    /// Whether `totals` are past a budget.
    pub fn exceeded_by(&self, totals: &TokenTotals) -> bool {
        self.total.is_some_and(|max| totals.total() > max)
            || self
                .completion
                .is_some_and(|max| totals.completion_tokens > max)
    }
}

/// Why a module was refused before it ran.
#[derive(Debug)]
#[non_exhaustive]
pub enum LoadError {
    /// The module is larger than the profile allows.
    TooLarge {
        /// Module size in bytes.
        size: usize,
        /// The profile's limit.
        limit: u32,
    },
    /// The bytes are not a WebAssembly module.
    NotWasm(String),
    /// The module imports something; tasks must be closed.
    Import {
        /// Import module name.
        module: String,
        /// Import field name.
        name: String,
    },
    /// A required export is missing or of the wrong kind or signature.
    MissingExport {
        /// Export name.
        name: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// The module declares more initial memory than its sandbox may have.
    MemoryTooLarge {
        /// Declared initial size in bytes.
        declared: u64,
        /// The profile's limit in bytes.
        limit: u64,
    },
    /// The module declares a function table with more initial elements than
    /// its sandbox may have.
    TableTooLarge {
        /// Declared initial number of elements.
        declared: u64,
        /// The profile's limit.
        limit: u32,
    },
    /// Compiling the module would cost more than [`COMPILE_BUDGET`] allows.
    OverCompileBudget {
        /// What is over: "functions", "function body bytes", ...
        limit: &'static str,
        /// The function concerned (its index among the module's defined
        /// functions), for a per-function limit.
        function: Option<u32>,
        /// How much the module has.
        found: u64,
        /// How much the budget allows.
        allowed: u64,
    },
    /// The module uses a feature the deterministic engine does not enable,
    /// or is otherwise invalid.
    Invalid(String),
    /// The module's `TaskInfo` is not one the host can run: a category
    /// that is not a category name, or tools that are invalid.
    BadInfo(String),
    /// The module speaks another ABI version.
    AbiVersion {
        /// The version the module returned.
        found: i64,
    },
    /// Instantiating the module failed: its start function or a data or
    /// element segment ended it.
    Instantiate(Outcome),
    /// Calling `airlock_abi_version` or `airlock_info` did not give a valid
    /// version and TaskInfo.
    Info(Outcome),
    /// The engine could not be set up (a host problem, not the module's).
    Engine(String),
}

// A module the sandbox refuses is not a task this profile can run; no
// signature or digest is involved (those are the suite's errors).
impl airlock_core::Classify for LoadError {
    fn class(&self) -> airlock_core::ErrorClass {
        match self {
            LoadError::TooLarge { .. }
            | LoadError::NotWasm(_)
            | LoadError::Import { .. }
            | LoadError::MissingExport { .. }
            | LoadError::MemoryTooLarge { .. }
            | LoadError::TableTooLarge { .. }
            | LoadError::OverCompileBudget { .. }
            | LoadError::Invalid(_)
            | LoadError::BadInfo(_)
            | LoadError::AbiVersion { .. }
            | LoadError::Instantiate(_)
            | LoadError::Info(_)
            | LoadError::Engine(_) => airlock_core::ErrorClass::Input,
        }
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::TooLarge { size, limit } => {
                write!(f, "module is {size} bytes; the profile allows {limit}")
            }
            LoadError::NotWasm(why) => write!(f, "not a WebAssembly module: {why}"),
            LoadError::Import { module, name } => write!(
                f,
                "module imports \"{module}\" \"{name}\"; task modules must have no imports"
            ),
            LoadError::MissingExport { name, problem } => {
                write!(f, "required export \"{name}\" {problem}")
            }
            LoadError::MemoryTooLarge { declared, limit } => write!(
                f,
                "module declares {declared} bytes of initial memory; the profile allows {limit}"
            ),
            LoadError::TableTooLarge { declared, limit } => write!(
                f,
                "module declares a table of {declared} elements; the profile allows {limit}"
            ),
            LoadError::OverCompileBudget {
                limit,
                function,
                found,
                allowed,
            } => {
                write!(f, "module is over the compile budget: ")?;
                if let Some(index) = function {
                    write!(f, "function {index} has")?;
                } else {
                    write!(f, "it has")?;
                }
                write!(f, " {found} {limit}; the runner allows {allowed}")
            }
            LoadError::Invalid(why) => write!(f, "module does not validate: {why}"),
            LoadError::BadInfo(why) => write!(f, "module's task info: {why}"),
            LoadError::AbiVersion { found } => write!(
                f,
                "module speaks task ABI version {found}; this runner speaks versions {} to {}",
                abi::OLDEST_ABI_VERSION,
                abi::ABI_VERSION
            ),
            LoadError::Instantiate(outcome) => write!(
                f,
                "instantiating the module failed (start function or segments): {outcome}"
            ),
            LoadError::Info(outcome) => write!(f, "airlock_info failed: {outcome}"),
            LoadError::Engine(why) => write!(f, "sandbox engine: {why}"),
        }
    }
}

impl core::error::Error for LoadError {}

/// One answer of the model, as an agent got it, before the host cuts and
/// checks it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reply {
    /// The reply text (may be empty beside tool calls).
    pub text: String,
    /// Tool calls, in the model's order; their `problem` is set by the host.
    pub tool_calls: Vec<ToolCall>,
    /// The tokens the server reported for the call, if it did.
    pub usage: Option<TokenUsage>,
    /// Reasoning text the server sent beside the reply, kept sealed in the
    /// transcript and never shown to the task.
    pub reasoning: String,
}

impl Reply {
    /// A reply of text alone, with no usage reported.
    pub fn text(text: impl Into<String>) -> Reply {
        Reply {
            text: text.into(),
            ..Reply::default()
        }
    }
}

/// What the task is talking to: the model under test, through an agent.
pub trait Conversation {
    /// The model's reply to `prompt`, or why there is none.
    fn reply(&mut self, prompt: &Prompt) -> Result<Reply, ModelErrorKind>;

    /// Whether the reply just given had already been cut to the reply limit
    /// before it got here. Only a replayed transcript knows this: its turn
    /// holds the cut text and the flag, and the task must see both again.
    fn last_reply_was_cut(&self) -> bool {
        false
    }
}

/// Per-store state: the resource limiter, and whether it refused anything,
/// so that the trap a refused allocation leads to is recorded as a memory limit.
struct StoreState {
    memory_limit: usize,
    table_limit: usize,
    memory_refused: bool,
    /// When the guest call under way hits the wall-clock backstop (`None`:
    /// a backstop too far off to be a time of this clock).
    deadline: Option<Instant>,
}

impl ResourceLimiter for StoreState {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_limit {
            self.memory_refused = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // A table is memory of the host's; count a refusal like memory.
        if desired > self.table_limit {
            self.memory_refused = true;
            return Ok(false);
        }
        Ok(true)
    }
}

/// Advances the engine epoch so that a guest call stuck past the wall-clock
/// backstop is interrupted. Stops when dropped.
struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    fn start(engine: Engine) -> EpochTicker {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("airlock-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                }
            })
            .ok();
        EpochTicker { stop, thread }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A wasmtime engine configured for deterministic, limited task execution.
pub struct Sandbox {
    engine: Engine,
    limits: SandboxLimits,
    settings: String,
    backend: Backend,
    cache: Option<ModuleCache>,
    _ticker: EpochTicker,
}

impl fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sandbox")
            .field("limits", &self.limits)
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

/// The wasmtime version this runner is built with (recorded in RunStart).
pub const WASMTIME_VERSION: &str = "48.0.8";

/// How the sandbox executes task code. Cranelift compiles every module in
/// both; what differs is what it compiles to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Backend {
    /// Native machine code for this host.
    #[default]
    Cranelift,
    /// Bytecode for Pulley, wasmtime's portable interpreter (`pulley64`):
    /// slower, but the same on every host, so a second, independent way to
    /// re-execute a task.
    Pulley,
}

impl Backend {
    /// The name used on the command line and in the engine settings.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Cranelift => "cranelift",
            Backend::Pulley => "pulley",
        }
    }
}

impl core::str::FromStr for Backend {
    type Err = String;

    fn from_str(text: &str) -> Result<Backend, String> {
        match text {
            "cranelift" => Ok(Backend::Cranelift),
            "pulley" => Ok(Backend::Pulley),
            other => Err(format!(
                "unknown backend \"{other}\" (known: cranelift, pulley)"
            )),
        }
    }
}

impl Sandbox {
    /// Builds the engine for `limits`, compiling to native code.
    pub fn new(limits: SandboxLimits) -> Result<Sandbox, LoadError> {
        Sandbox::with_backend(limits, Backend::Cranelift)
    }

    /// Builds the engine for `limits` with the given backend.
    pub fn with_backend(limits: SandboxLimits, backend: Backend) -> Result<Sandbox, LoadError> {
        let mut config = Config::new();
        let target = match backend {
            Backend::Cranelift => "native code for the host",
            Backend::Pulley => {
                config
                    .target("pulley64")
                    .map_err(|e| LoadError::Engine(format!("pulley64 target: {e}")))?;
                "pulley64 bytecode, interpreted"
            }
        };
        // Determinism: fuel is the CPU budget; NaNs are canonical; no SIMD,
        // threads or other features whose results can differ by host.
        config
            .consume_fuel(true)
            .operator_cost(operator_cost())
            .epoch_interruption(true)
            .cranelift_nan_canonicalization(true)
            .wasm_simd(false)
            .wasm_relaxed_simd(false)
            .wasm_multi_memory(false)
            .wasm_memory64(false)
            .wasm_tail_call(false)
            .wasm_custom_page_sizes(false)
            .wasm_wide_arithmetic(false)
            // What Rust's wasm32 output needs.
            .wasm_bulk_memory(true)
            .wasm_multi_value(true)
            .max_wasm_stack(limits.max_wasm_stack_bytes)
            .memory_init_cow(true);

        let mut pool = PoolingAllocationConfig::new();
        let memory_bytes = usize::try_from(limits.memory_bytes)
            .map_err(|_| LoadError::Engine("memory limit does not fit this host".into()))?;
        pool.total_core_instances(limits.max_instances)
            .total_memories(limits.max_instances)
            .total_tables(limits.max_instances)
            .max_memories_per_module(1)
            .max_tables_per_module(1)
            .table_elements(limits.max_table_elements as usize)
            .max_memory_size(memory_bytes)
            // The runner's memory bound (hardware-profiles/README.md) counts
            // only running sandboxes: a finished instance's pages go back to
            // the system at once, not when its slot is reused. These are
            // wasmtime's defaults, pinned against a change of them.
            .linear_memory_keep_resident(0)
            .table_keep_resident(0)
            .decommit_batch_size(1);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));

        let engine = Engine::new(&config).map_err(|e| LoadError::Engine(e.to_string()))?;
        let charged: Vec<String> = CHARGED_OPERATORS
            .iter()
            .map(|(name, cost)| format!("{name} {cost}"))
            .collect();
        let settings = format!(
            "wasmtime {WASMTIME_VERSION}; backend {} (cranelift to {target}); consume_fuel \
             with wasmtime's default costs except {}; epoch_interruption; nan_canonicalization; simd off; relaxed_simd off; \
             multi_memory off; memory64 off; tail_call off; custom_page_sizes off; \
             wide_arithmetic off; bulk_memory on; multi_value on; reference_types on; \
             gc, threads, component-model and async not compiled in; \
             max_wasm_stack {}; pooling allocator; memory_init_cow",
            backend.name(),
            charged.join(", "),
            limits.max_wasm_stack_bytes
        );
        let ticker = EpochTicker::start(engine.clone());
        Ok(Sandbox {
            engine,
            limits,
            settings,
            backend,
            cache: None,
            _ticker: ticker,
        })
    }

    /// Loads compiled modules from `cache` when an entry checks out, and
    /// stores what it compiles there. Entries are bound to this sandbox's
    /// [`Sandbox::settings_digest`], so one cache serves every profile and
    /// backend.
    pub fn with_module_cache(mut self, cache: ModuleCache) -> Sandbox {
        self.cache = Some(cache);
        self
    }

    /// The module cache in use, if any.
    pub fn module_cache(&self) -> Option<&ModuleCache> {
        self.cache.as_ref()
    }

    /// The file of the module cache entry that loading `bytes` would use,
    /// if a cache is in use.
    pub fn module_cache_entry(&self, bytes: &[u8]) -> Option<std::path::PathBuf> {
        self.cache.as_ref().map(|cache| {
            cache.entry_path(
                &self.engine,
                self.settings_digest().0,
                WASMTIME_VERSION,
                bytes,
            )
        })
    }

    /// The backend tasks run under.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The limits in force.
    pub fn limits(&self) -> &SandboxLimits {
        &self.limits
    }

    /// A canonical description of every engine setting that affects fuel
    /// counts and outcomes; its blake3 is recorded in RunStart.
    pub fn settings_description(&self) -> &str {
        &self.settings
    }

    /// blake3 of [`Sandbox::settings_description`].
    pub fn settings_digest(&self) -> Digest {
        Digest::blake3(self.settings.as_bytes())
    }

    /// Screens, compiles and probes a module: size, zero imports, required
    /// exports, initial memory and tables, instantiation, ABI version, TaskInfo.
    pub fn load(&self, bytes: &[u8]) -> Result<LoadedTask, LoadError> {
        screen(bytes, &self.limits)?;
        let invalid = |e: wasmtime::Error| LoadError::Invalid(format!("{e:#}"));
        // Screened first, cached or not: a cache entry only saves the compile.
        let (module, source) = match &self.cache {
            Some(cache) => cache
                .load_or_compile(
                    &self.engine,
                    self.settings_digest().0,
                    WASMTIME_VERSION,
                    bytes,
                )
                .map_err(invalid)?,
            None => (
                Module::new(&self.engine, bytes).map_err(invalid)?,
                Source::NoCache,
            ),
        };
        check_export_types(&module)?;
        let linker: Linker<StoreState> = Linker::new(&self.engine);
        let pre = linker
            .instantiate_pre(&module)
            .map_err(|e| LoadError::Invalid(format!("{e:#}")))?;
        let mut loaded = LoadedTask {
            pre,
            source,
            digest: Digest::blake3(bytes),
            info: TaskInfo {
                abi_version: 0,
                id: String::new(),
                version: 0,
                title: String::new(),
                category: String::new(),
                difficulty: abi::Difficulty::Easy,
                max_turns: 0,
                description: String::new(),
                system_prompt: String::new(),
                tools: Vec::new(),
            },
            tools: tools::ToolSet::none(),
        };
        loaded.info = self.probe(&loaded)?;
        if !abi::is_category_name(&loaded.info.category) {
            return Err(LoadError::BadInfo(format!(
                "category {:?} is not 1 to 64 bytes of a-z, 0-9 and inner -",
                loaded.info.category
            )));
        }
        loaded.tools = tools::ToolSet::compile(&loaded.info.tools).map_err(LoadError::BadInfo)?;
        Ok(loaded)
    }

    fn new_store(&self) -> Store<StoreState> {
        let memory_limit = usize::try_from(self.limits.memory_bytes).unwrap_or(usize::MAX);
        let mut store = Store::new(
            &self.engine,
            StoreState {
                memory_limit,
                table_limit: self.limits.max_table_elements as usize,
                memory_refused: false,
                deadline: None,
            },
        );
        store.limiter(|state| state as &mut dyn ResourceLimiter);
        // Every epoch tick the guest asks this whether its call is past the
        // backstop: the elapsed time is read off the monotonic clock, so a
        // ticker that sleeps longer than a tick (a loaded host) cannot make
        // the backstop longer than its setting.
        store.epoch_deadline_callback(|store| {
            if store.data().deadline.is_some_and(|at| Instant::now() >= at) {
                Ok(UpdateDeadline::Interrupt)
            } else {
                Ok(UpdateDeadline::Continue(1))
            }
        });
        store
    }

    /// Starts the backstop of one guest call: it fires once the call has run
    /// for `wall_clock_backstop`, at the first epoch tick after that.
    fn arm_backstop(&self, store: &mut Store<StoreState>) {
        store.data_mut().deadline = Instant::now().checked_add(self.limits.wall_clock_backstop);
        store.set_epoch_deadline(1);
    }

    /// Instantiates once to ask the module for its ABI version and TaskInfo.
    fn probe(&self, task: &LoadedTask) -> Result<TaskInfo, LoadError> {
        let mut store = self.new_store();
        store
            .set_fuel(self.limits.fuel_per_task)
            .map_err(|e| LoadError::Engine(e.to_string()))?;
        self.arm_backstop(&mut store);
        let instance = task
            .pre
            .instantiate(&mut store)
            .map_err(|e| LoadError::Instantiate(classify(&e, &store)))?;
        let version: TypedFunc<(), i32> = instance
            .get_typed_func(&mut store, abi::EXPORT_ABI_VERSION)
            .map_err(|e| LoadError::Invalid(e.to_string()))?;
        let found = version
            .call(&mut store, ())
            .map_err(|e| LoadError::Info(classify(&e, &store)))?;
        let speaks = u32::try_from(found)
            .ok()
            .filter(|v| (abi::OLDEST_ABI_VERSION..=abi::ABI_VERSION).contains(v));
        let Some(speaks) = speaks else {
            return Err(LoadError::AbiVersion {
                found: i64::from(found),
            });
        };
        let info_fn: TypedFunc<(), i64> = instance
            .get_typed_func(&mut store, abi::EXPORT_INFO)
            .map_err(|e| LoadError::Invalid(e.to_string()))?;
        let memory = instance.get_memory(&mut store, abi::EXPORT_MEMORY).ok_or(
            LoadError::MissingExport {
                name: abi::EXPORT_MEMORY,
                problem: "is not a memory".into(),
            },
        )?;
        let packed = info_fn
            .call(&mut store, ())
            .map_err(|e| LoadError::Info(classify(&e, &store)))?;
        let bytes = read_output(&store, memory, packed, self.limits.max_message_bytes)
            .map_err(|v| LoadError::Info(Outcome::AbiViolation(v)))?;
        let undecodable =
            |_| LoadError::Info(Outcome::AbiViolation(AbiViolation::UndecodableOutput));
        let info: TaskInfo = if speaks == abi::v1::ABI_VERSION {
            airlock_core::decode_exact::<abi::v1::TaskInfo>(&bytes)
                .map_err(undecodable)?
                .upgrade()
        } else {
            airlock_core::decode_exact(&bytes).map_err(undecodable)?
        };
        if info.abi_version != speaks {
            return Err(LoadError::AbiVersion {
                found: i64::from(info.abi_version),
            });
        }
        Ok(info)
    }

    /// Runs one task instance to its end, carrying each `Say` to the
    /// conversation and each reply back. Never fails: every ending is an
    /// [`Outcome`].
    pub fn run(
        &self,
        task: &LoadedTask,
        start: &StartArgs,
        conversation: &mut dyn Conversation,
    ) -> TaskRun {
        let started = Instant::now();
        let mut store = self.new_store();
        let mut turns = Vec::new();
        let mut tokens = TokenTotals::default();
        let mut memory = None;
        let result = self.drive(
            task,
            start,
            conversation,
            &mut store,
            Progress {
                turns: &mut turns,
                tokens: &mut tokens,
                memory: &mut memory,
            },
        );
        let remaining = store.get_fuel().unwrap_or(0);
        // Linear memory never shrinks: its final size is its peak.
        let grown_to = memory.map_or(0, |m: Memory| m.data_size(&store) as u64);
        let (outcome, score) = match result {
            Ok(score) => (Outcome::Done, score),
            Err(outcome) => (outcome, Ppm::ZERO),
        };
        let fuel_consumed = match outcome {
            // Where the host ends a task — its stack ran out (a depth set by
            // each backend's and each ISA's frame sizes) or the wall-clock
            // backstop fired — the fuel burnt so far is not a function of
            // (module, seed, replies). Such endings are charged the whole
            // budget, so recorded fuel is the same on every backend and host
            // (SPEC.md, "Engine settings").
            Outcome::StackOverflow | Outcome::WallClockTimeout => self.limits.fuel_per_task,
            _ => self.limits.fuel_per_task.saturating_sub(remaining),
        };
        // The same holds for memory: where the host cut the task short, a
        // `memory.grow` may or may not have run yet, so such endings are
        // charged the whole per-sandbox budget.
        let peak_memory_bytes = match outcome {
            Outcome::StackOverflow | Outcome::WallClockTimeout => self.limits.memory_bytes,
            _ => grown_to,
        };
        TaskRun {
            outcome,
            score,
            fuel_consumed,
            turns,
            tokens,
            peak_memory_bytes,
            wall_time: started.elapsed(),
        }
    }

    fn drive(
        &self,
        task: &LoadedTask,
        start_args: &StartArgs,
        conversation: &mut dyn Conversation,
        store: &mut Store<StoreState>,
        progress: Progress<'_>,
    ) -> Result<Ppm, Outcome> {
        let Progress {
            turns,
            tokens,
            memory: memory_out,
        } = progress;
        store
            .set_fuel(self.limits.fuel_per_task)
            .map_err(|_| Outcome::Trap(TrapKind::Other))?;
        self.arm_backstop(store);
        let instance = task
            .pre
            .instantiate(&mut *store)
            .map_err(|e| classify(&e, store))?;
        let abi_err = |_| Outcome::AbiViolation(AbiViolation::UndecodableOutput);
        let input: TypedFunc<i32, i32> = instance
            .get_typed_func(&mut *store, abi::EXPORT_INPUT)
            .map_err(abi_err)?;
        let start: TypedFunc<i32, i64> = instance
            .get_typed_func(&mut *store, abi::EXPORT_START)
            .map_err(abi_err)?;
        let step: TypedFunc<i32, i64> = instance
            .get_typed_func(&mut *store, abi::EXPORT_STEP)
            .map_err(abi_err)?;
        let memory = instance
            .get_memory(&mut *store, abi::EXPORT_MEMORY)
            .ok_or(Outcome::AbiViolation(AbiViolation::UndecodableOutput))?;
        *memory_out = Some(memory);
        let max_turns = self.limits.max_turns.min(task.info.max_turns);
        let version_1 = task.info.abi_version == abi::v1::ABI_VERSION;
        // In text mode no tool is offered, so every call a reply carries is
        // undeclared; a version 1 module has no tools either way.
        let no_tools = tools::ToolSet::none();
        let offered = match start_args.tool_mode {
            ToolMode::Native if !version_1 => &task.tools,
            _ => &no_tools,
        };

        let args = if version_1 {
            postcard::to_allocvec(&abi::v1::StartArgs {
                seed: start_args.seed,
            })
        } else {
            postcard::to_allocvec(start_args)
        }
        .map_err(|_| Outcome::Trap(TrapKind::Other))?;
        self.arm_backstop(store);
        let len = write_input(store, &input, memory, &args)?;
        let mut next = start
            .call(&mut *store, len)
            .map_err(|e| classify(&e, store));
        // The calls of the last reply, which the next step must answer.
        let mut open_calls: Vec<String> = Vec::new();
        loop {
            let packed = next?;
            let bytes = read_output(store, memory, packed, self.limits.max_message_bytes)
                .map_err(Outcome::AbiViolation)?;
            let prompt = match airlock_core::decode_exact::<Step>(&bytes) {
                Ok(Step::Done(score)) if score.is_valid() => return Ok(score),
                Ok(Step::Done(_)) => {
                    return Err(Outcome::AbiViolation(AbiViolation::ScoreOutOfRange));
                }
                Ok(Step::Say(_)) if !open_calls.is_empty() => {
                    return Err(Outcome::AbiViolation(AbiViolation::ToolResultsMismatch));
                }
                Ok(Step::Say(text)) => Prompt::Text(text),
                Ok(Step::ToolResults(_)) if version_1 => {
                    return Err(Outcome::AbiViolation(AbiViolation::UndecodableOutput));
                }
                Ok(Step::ToolResults(results)) => {
                    if !answers_each(&results, &open_calls) {
                        return Err(Outcome::AbiViolation(AbiViolation::ToolResultsMismatch));
                    }
                    Prompt::ToolResults(results)
                }
                Err(_) => return Err(Outcome::AbiViolation(AbiViolation::UndecodableOutput)),
            };
            if turns.len() as u32 >= max_turns {
                return Err(Outcome::TurnLimit);
            }
            let answer = conversation.reply(&prompt).map_err(Outcome::ModelError)?;
            let reply = self.cut_and_check(answer.text, answer.tool_calls, offered, &*conversation);
            tokens.add(answer.usage);
            open_calls = reply.tool_calls.iter().map(|c| c.id.clone()).collect();
            let message = if version_1 {
                postcard::to_allocvec(&abi::v1::ModelReply {
                    text: reply.text.clone(),
                    truncated: reply.truncated,
                })
            } else {
                postcard::to_allocvec(&reply)
            }
            .map_err(|_| Outcome::Trap(TrapKind::Other))?;
            turns.push(Turn {
                prompt,
                reply,
                usage: answer.usage,
                reasoning: answer.reasoning,
            });
            if self.limits.tokens.exceeded_by(tokens) {
                return Err(Outcome::TokenLimit);
            }
            self.arm_backstop(store);
            let len = write_input(store, &input, memory, &message)?;
            next = step.call(&mut *store, len).map_err(|e| classify(&e, store));
        }
    }

    /// The reply as the task gets it: text and each call's fields cut to the
    /// reply size, calls beyond the most a reply may carry dropped, each call
    /// given the host's verdict against the offered tools.
    fn cut_and_check(
        &self,
        text: String,
        calls: Vec<ToolCall>,
        offered: &tools::ToolSet,
        conversation: &dyn Conversation,
    ) -> ModelReply {
        let limit = self.limits.max_reply_bytes as usize;
        let (text, mut truncated) = truncate_utf8(text, limit);
        let mut tool_calls = Vec::with_capacity(calls.len().min(abi::MAX_TOOL_CALLS));
        for call in calls {
            let (id, a) = truncate_utf8(call.id, tools::MAX_TOOL_NAME * 4);
            let (name, b) = truncate_utf8(call.name, tools::MAX_TOOL_NAME * 4);
            let (arguments, c) = truncate_utf8(call.arguments, limit);
            truncated |= a || b || c;
            tool_calls.push(ToolCall {
                id,
                name,
                arguments,
                problem: None,
            });
        }
        let mut reply = ModelReply {
            text,
            truncated: truncated || conversation.last_reply_was_cut(),
            tool_calls,
        };
        offered.check_reply(&mut reply);
        reply
    }
}

/// What a task instance has done so far, kept by [`Sandbox::run`] apart from
/// the result so that a task that ends early still has its record.
struct Progress<'a> {
    turns: &'a mut Vec<Turn>,
    tokens: &'a mut TokenTotals,
    memory: &'a mut Option<Memory>,
}

/// Whether `results` answer `calls` one for one, in order, by id.
fn answers_each(results: &[ToolResult], calls: &[String]) -> bool {
    !calls.is_empty()
        && results.len() == calls.len()
        && results.iter().zip(calls).all(|(r, id)| r.call_id == *id)
}

/// A compiled, screened task module, ready to instantiate.
pub struct LoadedTask {
    pre: InstancePre<StoreState>,
    /// Where the compiled code came from: the module cache or Cranelift.
    pub source: Source,
    /// blake3 of the module bytes.
    pub digest: Digest,
    /// What the module says about itself.
    pub info: TaskInfo,
    /// The module's declared tools, compiled for checking calls.
    tools: tools::ToolSet,
}

impl fmt::Debug for LoadedTask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadedTask")
            .field("digest", &self.digest)
            .field("source", &self.source)
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

/// The end of one task instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRun {
    /// How it ended.
    pub outcome: Outcome,
    /// The task's score; zero unless `outcome` is `Done`.
    pub score: Ppm,
    /// Fuel consumed over `start` and every `step`; the whole budget for
    /// endings the host decides (stack overflow, wall-clock timeout).
    pub fuel_consumed: u64,
    /// Every answered turn.
    pub turns: Vec<Turn>,
    /// Tokens of the model calls, as the server reported them.
    pub tokens: TokenTotals,
    /// Largest size the instance's linear memory reached, in bytes.
    pub peak_memory_bytes: u64,
    /// Wall time (information only).
    pub wall_time: Duration,
}

/// Cuts `text` to at most `limit` bytes on a character boundary; true when cut.
pub fn truncate_utf8(mut text: String, limit: usize) -> (String, bool) {
    if text.len() <= limit {
        return (text, false);
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    (text, true)
}

fn write_input(
    store: &mut Store<StoreState>,
    input: &TypedFunc<i32, i32>,
    memory: Memory,
    bytes: &[u8],
) -> Result<i32, Outcome> {
    let len = i32::try_from(bytes.len()).map_err(|_| Outcome::Trap(TrapKind::Other))?;
    let ptr = input
        .call(&mut *store, len)
        .map_err(|e| classify(&e, store))? as u32;
    let start = ptr as usize;
    let end = start
        .checked_add(bytes.len())
        .ok_or(Outcome::AbiViolation(AbiViolation::BadInputBuffer))?;
    let dest = memory
        .data_mut(&mut *store)
        .get_mut(start..end)
        .ok_or(Outcome::AbiViolation(AbiViolation::BadInputBuffer))?;
    dest.copy_from_slice(bytes);
    Ok(len)
}

fn read_output(
    store: &Store<StoreState>,
    memory: Memory,
    packed: i64,
    max_len: u32,
) -> Result<Vec<u8>, AbiViolation> {
    let (ptr, len) = abi::unpack(packed);
    if len > max_len {
        return Err(AbiViolation::OutputTooLarge);
    }
    let start = ptr as usize;
    let end = start
        .checked_add(len as usize)
        .ok_or(AbiViolation::OutputOutOfBounds)?;
    memory
        .data(store)
        .get(start..end)
        .map(<[u8]>::to_vec)
        .ok_or(AbiViolation::OutputOutOfBounds)
}

/// Maps an error from a guest call to the outcome it means.
fn classify(error: &wasmtime::Error, store: &Store<StoreState>) -> Outcome {
    let refused = store.data().memory_refused;
    match error.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => Outcome::OutOfFuel,
        Some(Trap::StackOverflow) => Outcome::StackOverflow,
        Some(Trap::Interrupt) => Outcome::WallClockTimeout,
        // A refused allocation surfaces as whatever the guest does next
        // (Rust guests abort with `unreachable`); the refusal is the cause.
        Some(_) | None if refused => Outcome::MemoryLimit,
        Some(Trap::UnreachableCodeReached) => Outcome::Trap(TrapKind::Unreachable),
        Some(Trap::MemoryOutOfBounds) => Outcome::Trap(TrapKind::MemoryOutOfBounds),
        Some(Trap::IntegerDivisionByZero) => Outcome::Trap(TrapKind::IntegerDivisionByZero),
        Some(Trap::IntegerOverflow) => Outcome::Trap(TrapKind::IntegerOverflow),
        Some(Trap::BadConversionToInteger) => Outcome::Trap(TrapKind::BadConversionToInteger),
        Some(Trap::IndirectCallToNull) => Outcome::Trap(TrapKind::IndirectCallToNull),
        Some(Trap::BadSignature) => Outcome::Trap(TrapKind::BadSignature),
        Some(Trap::TableOutOfBounds) => Outcome::Trap(TrapKind::TableOutOfBounds),
        Some(_) | None => Outcome::Trap(TrapKind::Other),
    }
}

/// Checks a module before compiling it: size, imports, exports, memory, tables.
fn screen(bytes: &[u8], limits: &SandboxLimits) -> Result<(), LoadError> {
    if bytes.len() > limits.max_module_bytes as usize {
        return Err(LoadError::TooLarge {
            size: bytes.len(),
            limit: limits.max_module_bytes,
        });
    }
    if !bytes.starts_with(b"\0asm") {
        return Err(LoadError::NotWasm("missing the \\0asm magic".into()));
    }
    let mut exports: Vec<(String, wasmparser::ExternalKind)> = Vec::new();
    let budget = COMPILE_BUDGET;
    let mut functions: u32 = 0;
    let mut branches: u32 = 0;
    let mut calls: u32 = 0;
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(|e| LoadError::NotWasm(e.to_string()))?;
        match payload {
            wasmparser::Payload::TypeSection(reader) => {
                within(reader.count(), budget.entries, "types")?;
            }
            wasmparser::Payload::GlobalSection(reader) => {
                within(reader.count(), budget.entries, "globals")?;
            }
            wasmparser::Payload::ElementSection(reader) => {
                within(reader.count(), budget.entries, "element segments")?;
            }
            wasmparser::Payload::DataSection(reader) => {
                within(reader.count(), budget.entries, "data segments")?;
            }
            wasmparser::Payload::FunctionSection(reader) => {
                within(reader.count(), budget.functions, "functions")?;
            }
            wasmparser::Payload::CodeSectionStart { count, size, .. } => {
                within(count, budget.functions, "functions")?;
                within(size, budget.code_bytes, "bytes of code")?;
            }
            wasmparser::Payload::CodeSectionEntry(body) => {
                let (body_branches, body_calls) = screen_body(&body, functions, &budget)?;
                branches = branches.saturating_add(body_branches);
                calls = calls.saturating_add(body_calls);
                within(branches, budget.module_branches, "blocks and branches")?;
                within(calls, budget.calls, "calls")?;
                functions = functions.saturating_add(1);
            }
            wasmparser::Payload::Version { encoding, .. }
                if encoding != wasmparser::Encoding::Module =>
            {
                return Err(LoadError::NotWasm("a component, not a core module".into()));
            }
            wasmparser::Payload::ImportSection(reader) => {
                // The first import is enough to refuse the module; name it.
                if let Some(import) = reader.into_imports().next() {
                    let import = import.map_err(|e| LoadError::NotWasm(e.to_string()))?;
                    return Err(LoadError::Import {
                        module: import.module.to_string(),
                        name: import.name.to_string(),
                    });
                }
            }
            wasmparser::Payload::MemorySection(reader) => {
                for memory in reader {
                    let memory = memory.map_err(|e| LoadError::NotWasm(e.to_string()))?;
                    let page = 1u64 << memory.page_size_log2.unwrap_or(16);
                    let declared = memory.initial.saturating_mul(page);
                    if declared > limits.memory_bytes {
                        return Err(LoadError::MemoryTooLarge {
                            declared,
                            limit: limits.memory_bytes,
                        });
                    }
                }
            }
            wasmparser::Payload::TableSection(reader) => {
                for table in reader {
                    let table = table.map_err(|e| LoadError::NotWasm(e.to_string()))?;
                    if table.ty.initial > u64::from(limits.max_table_elements) {
                        return Err(LoadError::TableTooLarge {
                            declared: table.ty.initial,
                            limit: limits.max_table_elements,
                        });
                    }
                }
            }
            wasmparser::Payload::ExportSection(reader) => {
                within(reader.count(), budget.entries, "exports")?;
                for export in reader {
                    let export = export.map_err(|e| LoadError::NotWasm(e.to_string()))?;
                    exports.push((export.name.to_string(), export.kind));
                }
            }
            _ => {}
        }
    }
    for name in abi::REQUIRED_EXPORTS {
        let wanted = if name == abi::EXPORT_MEMORY {
            wasmparser::ExternalKind::Memory
        } else {
            wasmparser::ExternalKind::Func
        };
        match exports.iter().find(|(n, _)| n == name) {
            None => {
                return Err(LoadError::MissingExport {
                    name,
                    problem: "is missing".into(),
                });
            }
            Some((_, kind)) if *kind != wanted => {
                return Err(LoadError::MissingExport {
                    name,
                    problem: format!("is a {kind:?}, not a {wanted:?}"),
                });
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// Refuses a module-wide count over its compile budget.
fn within(found: u32, allowed: u32, limit: &'static str) -> Result<(), LoadError> {
    if found > allowed {
        return Err(LoadError::OverCompileBudget {
            limit,
            function: None,
            found: found.into(),
            allowed: allowed.into(),
        });
    }
    Ok(())
}

/// Checks one function body against the per-function compile budget: its
/// size, its locals, how deep its blocks nest and how many blocks and
/// branches it has; returns those and its calls. Reading the operators is linear in the
/// body's size, which the budget has bounded first.
fn screen_body(
    body: &wasmparser::FunctionBody<'_>,
    index: u32,
    budget: &CompileBudget,
) -> Result<(u32, u32), LoadError> {
    let over = |limit: &'static str, found: u64, allowed: u32| LoadError::OverCompileBudget {
        limit,
        function: Some(index),
        found,
        allowed: allowed.into(),
    };
    let size = body.range().len() as u64;
    if size > u64::from(budget.function_bytes) {
        return Err(over("body bytes", size, budget.function_bytes));
    }
    let not_wasm = |e: wasmparser::BinaryReaderError| LoadError::NotWasm(e.to_string());
    let mut locals: u64 = 0;
    for group in body.get_locals_reader().map_err(not_wasm)? {
        let (count, _) = group.map_err(not_wasm)?;
        locals = locals.saturating_add(count.into());
        if locals > u64::from(budget.locals) {
            return Err(over("locals", locals, budget.locals));
        }
    }
    let mut depth: u32 = 0;
    let mut branches: u32 = 0;
    let mut calls: u32 = 0;
    let mut operators = body.get_operators_reader().map_err(not_wasm)?;
    while !operators.eof() {
        let operator = operators.read().map_err(not_wasm)?;
        let opens = matches!(
            operator,
            wasmparser::Operator::Block { .. }
                | wasmparser::Operator::Loop { .. }
                | wasmparser::Operator::If { .. }
                | wasmparser::Operator::TryTable { .. }
        );
        let branch = opens
            || matches!(
                operator,
                wasmparser::Operator::Else
                    | wasmparser::Operator::Br { .. }
                    | wasmparser::Operator::BrIf { .. }
                    | wasmparser::Operator::BrTable { .. }
            );
        if opens {
            depth = depth.saturating_add(1);
            if depth > budget.nesting {
                return Err(over("nested blocks", depth.into(), budget.nesting));
            }
        } else if matches!(operator, wasmparser::Operator::End) {
            depth = depth.saturating_sub(1);
        }
        if matches!(
            operator,
            wasmparser::Operator::Call { .. } | wasmparser::Operator::CallIndirect { .. }
        ) {
            calls = calls.saturating_add(1);
        }
        if branch {
            branches = branches.saturating_add(1);
            if branches > budget.branches {
                return Err(over(
                    "blocks and branches",
                    branches.into(),
                    budget.branches,
                ));
            }
        }
    }
    Ok((branches, calls))
}

/// Checks the signatures of the exported functions against the ABI.
fn check_export_types(module: &Module) -> Result<(), LoadError> {
    use wasmtime::ValType;
    let expected: [(&'static str, &[ValType], &[ValType]); 5] = [
        (abi::EXPORT_ABI_VERSION, &[], &[ValType::I32]),
        (abi::EXPORT_INPUT, &[ValType::I32], &[ValType::I32]),
        (abi::EXPORT_INFO, &[], &[ValType::I64]),
        (abi::EXPORT_START, &[ValType::I32], &[ValType::I64]),
        (abi::EXPORT_STEP, &[ValType::I32], &[ValType::I64]),
    ];
    for (name, params, results) in expected {
        let Some(wasmtime::ExternType::Func(ty)) = module.get_export(name) else {
            return Err(LoadError::MissingExport {
                name,
                problem: "is not a function".into(),
            });
        };
        let same = |got: &mut dyn ExactSizeIterator<Item = ValType>, want: &[ValType]| {
            got.len() == want.len() && got.zip(want).all(|(a, b)| ValType::eq(&a, b))
        };
        if !same(&mut ty.params(), params) || !same(&mut ty.results(), results) {
            return Err(LoadError::MissingExport {
                name,
                problem: format!("has type {ty}, the ABI needs {params:?} -> {results:?}"),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod class_tests {
    use super::*;
    use airlock_core::{Classify as _, ErrorClass};

    /// Every variant with its exit-code class. The row function matches
    /// without a wildcard arm, so a new variant does not compile until it
    /// has a row, and the test fails until the row has a case.
    #[test]
    fn every_load_error_variant_has_its_class() {
        let cases = [
            (LoadError::TooLarge { size: 2, limit: 1 }, ErrorClass::Input),
            (LoadError::NotWasm("x".into()), ErrorClass::Input),
            (
                LoadError::Import {
                    module: "m".into(),
                    name: "n".into(),
                },
                ErrorClass::Input,
            ),
            (
                LoadError::MissingExport {
                    name: "x",
                    problem: "x".into(),
                },
                ErrorClass::Input,
            ),
            (
                LoadError::MemoryTooLarge {
                    declared: 2,
                    limit: 1,
                },
                ErrorClass::Input,
            ),
            (
                LoadError::TableTooLarge {
                    declared: 2,
                    limit: 1,
                },
                ErrorClass::Input,
            ),
            (
                LoadError::OverCompileBudget {
                    limit: "functions",
                    function: None,
                    found: 2,
                    allowed: 1,
                },
                ErrorClass::Input,
            ),
            (LoadError::Invalid("x".into()), ErrorClass::Input),
            (LoadError::AbiVersion { found: 9 }, ErrorClass::Input),
            (
                LoadError::Instantiate(airlock_core::Outcome::OutOfFuel),
                ErrorClass::Input,
            ),
            (
                LoadError::Info(airlock_core::Outcome::OutOfFuel),
                ErrorClass::Input,
            ),
            (LoadError::Engine("x".into()), ErrorClass::Input),
            (LoadError::BadInfo("x".into()), ErrorClass::Input),
        ];
        let row = |e: &LoadError| match e {
            LoadError::TooLarge { .. } => 0,
            LoadError::NotWasm(_) => 1,
            LoadError::Import { .. } => 2,
            LoadError::MissingExport { .. } => 3,
            LoadError::MemoryTooLarge { .. } => 4,
            LoadError::TableTooLarge { .. } => 5,
            LoadError::OverCompileBudget { .. } => 6,
            LoadError::Invalid(_) => 7,
            LoadError::AbiVersion { .. } => 8,
            LoadError::Instantiate(_) => 9,
            LoadError::Info(_) => 10,
            LoadError::Engine(_) => 11,
            LoadError::BadInfo(_) => 12,
        };
        let mut seen = [false; 13];
        for (error, class) in &cases {
            assert_eq!(error.class(), *class, "{error}");
            seen[row(error)] = true;
        }
        assert!(seen.iter().all(|s| *s), "a variant has no case: {seen:?}");
    }
}
