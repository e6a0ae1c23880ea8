//! What one SQL statement may take: memory, time, a place among the
//! statements running, and how large a value a function may make.
//!
//! - **Memory**: operators that hold data (sorts, hash aggregates, joins)
//!   draw from one pool of [`SqlLimits::memory_bytes`] shared by every
//!   statement; past it the statement fails ("resources exhausted"). No
//!   spilling: audit data never goes to temporary files.
//! - **Time**: planning and every poll of the result stream check a
//!   deadline of [`SqlLimits::timeout`].
//! - **Concurrency**: at most [`SqlLimits::concurrency`] statements run at
//!   once; another waits for a place up to [`QUEUE_WAIT`], then is refused
//!   as busy.
//! - **Values**: functions whose result can be far larger than their
//!   arguments (`repeat`, `lpad`, `rpad`, `replace`, `regexp_replace`,
//!   `array_repeat`, `range`, `generate_series`) are wrapped: before they
//!   run, the size their arguments imply is checked against
//!   [`MAX_VALUE_BYTES`] a value and [`MAX_CALL_BYTES`] a batch. Constant
//!   calls are folded while planning, so `repeat('a', 1500000000)` fails
//!   there, before anything is allocated.

use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{DataType, Int64Type, SchemaRef};
use arrow::record_batch::RecordBatch;
use datafusion::arrow::datatypes::FieldRef;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::{GreedyMemoryPool, TrackConsumersPool};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::execution::{RecordBatchStream, SendableRecordBatchStream};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
};
use futures::Stream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The largest value one function call may make: 16 MiB.
pub const MAX_VALUE_BYTES: u64 = 16 << 20;
/// The most one call may make for one batch of rows: 256 MiB.
pub const MAX_CALL_BYTES: u64 = 256 << 20;
/// How long a statement waits for a place before it is refused as busy.
pub const QUEUE_WAIT: Duration = Duration::from_secs(10);

/// The limits in force (see the module's documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqlLimits {
    pub memory_bytes: usize,
    pub timeout: Duration,
    pub concurrency: usize,
}

impl Default for SqlLimits {
    fn default() -> SqlLimits {
        SqlLimits {
            memory_bytes: 1 << 30,
            timeout: Duration::from_secs(60),
            concurrency: 4,
        }
    }
}

/// The limits with what enforces them.
#[derive(Debug)]
pub(crate) struct Governor {
    pub limits: SqlLimits,
    pub runtime: Arc<RuntimeEnv>,
    places: Arc<Semaphore>,
}

static GOVERNOR: OnceLock<Governor> = OnceLock::new();

/// Sets the limits of this process's statements. Only the first call
/// counts (a server sets them once at start); until then, the defaults.
pub fn set_limits(limits: SqlLimits) -> Result<(), String> {
    let governor = Governor::new(limits)?;
    GOVERNOR
        .set(governor)
        .map_err(|_| "the SQL limits are already set".to_owned())
}

pub(crate) fn governor() -> Result<&'static Governor, String> {
    if let Some(governor) = GOVERNOR.get() {
        return Ok(governor);
    }
    let governor = Governor::new(SqlLimits::default())?;
    Ok(GOVERNOR.get_or_init(|| governor))
}

impl Governor {
    fn new(limits: SqlLimits) -> Result<Governor, String> {
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_pool(Arc::new(TrackConsumersPool::new(
                GreedyMemoryPool::new(limits.memory_bytes),
                std::num::NonZeroUsize::MIN.saturating_add(2),
            )))
            .with_disk_manager_builder(
                DiskManagerBuilder::default().with_mode(DiskManagerMode::Disabled),
            )
            .build_arc()
            .map_err(|error| format!("setting up the SQL runtime: {error}"))?;
        Ok(Governor {
            limits,
            runtime,
            places: Arc::new(Semaphore::new(limits.concurrency.max(1))),
        })
    }

    /// A place to run in, or `None` when every place stayed taken for
    /// [`QUEUE_WAIT`].
    pub async fn place(&self) -> Option<OwnedSemaphorePermit> {
        tokio::time::timeout(QUEUE_WAIT, Arc::clone(&self.places).acquire_owned())
            .await
            .ok()
            .and_then(Result::ok)
    }
}

/// A result stream that holds its statement's place and fails once the
/// statement's deadline has passed.
pub(crate) struct Governed {
    pub inner: SendableRecordBatchStream,
    pub deadline: Pin<Box<tokio::time::Sleep>>,
    pub timeout: Duration,
    pub _place: OwnedSemaphorePermit,
    pub expired: bool,
}

impl Governed {
    fn timed_out(&mut self) -> Poll<Option<DfResult<RecordBatch>>> {
        self.expired = true;
        Poll::Ready(Some(Err(DataFusionError::ResourcesExhausted(format!(
            "the statement ran longer than its limit of {} s",
            self.timeout.as_secs()
        )))))
    }
}

impl Stream for Governed {
    type Item = DfResult<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.expired {
            return Poll::Ready(None);
        }
        if self.deadline.as_mut().poll(context).is_ready() {
            return self.timed_out();
        }
        self.inner.as_mut().poll_next(context)
    }
}

impl RecordBatchStream for Governed {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }
}

/// How large a value a function may make, from its arguments' largest
/// sizes (string lengths in bytes, integer values).
type Bound = fn(&[Size]) -> u64;

/// The largest length (strings, binary, lists) or value (integers) of an
/// argument over the batch; `None` for anything else.
#[derive(Debug, Clone, Copy, Default)]
struct Size {
    length: Option<u64>,
    integer: Option<i64>,
}

/// The functions wrapped, and how large a value each can make.
const GUARDED: [(&str, Bound); 8] = [
    ("repeat", |sizes| {
        length(sizes, 0).saturating_mul(count(sizes, 1))
    }),
    ("lpad", |sizes| count(sizes, 1).saturating_mul(4)),
    ("rpad", |sizes| count(sizes, 1).saturating_mul(4)),
    ("replace", |sizes| {
        (length(sizes, 0) + 1).saturating_mul(length(sizes, 2) + 1)
    }),
    ("regexp_replace", |sizes| {
        (length(sizes, 0) + 1).saturating_mul(length(sizes, 2) + 1)
    }),
    ("array_repeat", |sizes| {
        count(sizes, 1).saturating_mul(length(sizes, 0).max(8))
    }),
    ("range", series),
    ("generate_series", series),
];

fn length(sizes: &[Size], index: usize) -> u64 {
    sizes.get(index).and_then(|size| size.length).unwrap_or(0)
}

fn count(sizes: &[Size], index: usize) -> u64 {
    sizes
        .get(index)
        .and_then(|size| size.integer)
        .map_or(0, |value| value.max(0) as u64)
}

/// `range(stop)`, `range(start, stop)`, `range(start, stop, step)` of
/// integers: eight bytes an element. Other kinds (dates) are left alone.
fn series(sizes: &[Size]) -> u64 {
    let integer = |index: usize| sizes.get(index).and_then(|size| size.integer);
    let (start, stop, step) = match sizes.len() {
        1 => (Some(0), integer(0), Some(1)),
        2 => (integer(0), integer(1), Some(1)),
        _ => (integer(0), integer(1), integer(2)),
    };
    match (start, stop, step) {
        (Some(start), Some(stop), Some(step)) if step != 0 => {
            let span = (i128::from(stop) - i128::from(start)).unsigned_abs();
            let elements = span / i128::from(step).unsigned_abs() + 1;
            u64::try_from(elements.saturating_mul(8)).unwrap_or(u64::MAX)
        }
        _ => 0,
    }
}

fn size_of(value: &ColumnarValue) -> Size {
    let array: ArrayRef = match value {
        ColumnarValue::Array(array) => Arc::clone(array),
        ColumnarValue::Scalar(scalar) => match scalar.to_array() {
            Ok(array) => array,
            Err(_) => return Size::default(),
        },
    };
    let mut size = Size::default();
    match array.data_type() {
        DataType::Utf8 => {
            size.length = array
                .as_string::<i32>()
                .iter()
                .flatten()
                .map(|s| s.len() as u64)
                .max();
        }
        DataType::LargeUtf8 => {
            size.length = array
                .as_string::<i64>()
                .iter()
                .flatten()
                .map(|s| s.len() as u64)
                .max();
        }
        DataType::Utf8View => {
            size.length = array
                .as_string_view()
                .iter()
                .flatten()
                .map(|s| s.len() as u64)
                .max();
        }
        data_type if data_type.is_integer() => {
            if let Ok(cast) = arrow::compute::cast(&array, &DataType::Int64) {
                size.integer = arrow::compute::max(cast.as_primitive::<Int64Type>());
            }
        }
        _ => {}
    }
    size
}

/// A function wrapped with its size check.
#[derive(Debug)]
struct Bounded {
    inner: Arc<ScalarUDF>,
    bound: Bound,
}

// One wrapper a function: the wrapped function says which it is.
impl PartialEq for Bounded {
    fn eq(&self, other: &Bounded) -> bool {
        self.inner == other.inner
    }
}

impl Eq for Bounded {}

impl std::hash::Hash for Bounded {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.inner.hash(state);
    }
}

impl ScalarUDFImpl for Bounded {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }
    fn signature(&self) -> &Signature {
        self.inner.signature()
    }
    fn return_type(&self, arg_types: &[DataType]) -> DfResult<DataType> {
        self.inner.return_type(arg_types)
    }
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> DfResult<FieldRef> {
        self.inner.return_field_from_args(args)
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> DfResult<Vec<DataType>> {
        self.inner.coerce_types(arg_types)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let sizes: Vec<Size> = args.args.iter().map(size_of).collect();
        let value = (self.bound)(&sizes);
        let rows = args.number_rows.max(1) as u64;
        if value > MAX_VALUE_BYTES || value.saturating_mul(rows) > MAX_CALL_BYTES {
            return Err(DataFusionError::ResourcesExhausted(format!(
                "{}() would make {} bytes; one value may have at most {MAX_VALUE_BYTES} bytes, one call {MAX_CALL_BYTES} for a batch",
                self.inner.name(),
                if value > MAX_VALUE_BYTES {
                    value
                } else {
                    value.saturating_mul(rows)
                },
            )));
        }
        self.inner.invoke_with_args(args)
    }
}

/// The wrapped forms of the guarded functions a session knows.
pub(crate) fn bounded_functions(
    known: &std::collections::HashMap<String, Arc<ScalarUDF>>,
) -> Vec<ScalarUDF> {
    GUARDED
        .iter()
        .filter_map(|(name, bound)| {
            known.get(*name).map(|inner| {
                ScalarUDF::new_from_impl(Bounded {
                    inner: Arc::clone(inner),
                    bound: *bound,
                })
            })
        })
        .collect()
}
