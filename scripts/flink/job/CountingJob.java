// A small stateful Flink job for the checkpoints tests: numbers from a rate-limited generator,
// keyed, counted per key in ValueState, discarded. Checkpoints every second. An optional first
// argument makes every snapshot of the counter take that many milliseconds (a savepoint slower
// than a rescale's timeout, for the scaler tests); without it snapshots take what they take.

import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.functions.RichMapFunction;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.connector.source.util.ratelimit.RateLimiterStrategy;
import org.apache.flink.connector.datagen.source.DataGeneratorSource;
import org.apache.flink.connector.datagen.source.GeneratorFunction;
import org.apache.flink.runtime.state.FunctionInitializationContext;
import org.apache.flink.runtime.state.FunctionSnapshotContext;
import org.apache.flink.streaming.api.checkpoint.CheckpointedFunction;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;

public class CountingJob {
    public static void main(String[] args) throws Exception {
        long snapshotDelayMs = args.length > 0 ? Long.parseLong(args[0]) : 0L;
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        env.enableCheckpointing(1000);
        GeneratorFunction<Long, Long> identity = i -> i;
        DataGeneratorSource<Long> numbers =
                new DataGeneratorSource<>(identity, Long.MAX_VALUE, RateLimiterStrategy.perSecond(200), Types.LONG);
        env.fromSource(numbers, WatermarkStrategy.noWatermarks(), "numbers")
                .uid("numbers")
                .keyBy(v -> v % 8)
                .map(new Counter(snapshotDelayMs))
                .uid("counter")
                .sinkTo(new DiscardingSink<>());
        env.execute("streamops-counting-job");
    }

    static class Counter extends RichMapFunction<Long, Long> implements CheckpointedFunction {
        private final long snapshotDelayMs;
        private transient ValueState<Long> count;

        Counter(long snapshotDelayMs) {
            this.snapshotDelayMs = snapshotDelayMs;
        }

        @Override
        public void snapshotState(FunctionSnapshotContext context) throws Exception {
            if (snapshotDelayMs > 0) {
                Thread.sleep(snapshotDelayMs);
            }
        }

        @Override
        public void initializeState(FunctionInitializationContext context) {
        }

        @Override
        public void open(OpenContext context) {
            count = getRuntimeContext().getState(new ValueStateDescriptor<>("count", Types.LONG));
        }

        @Override
        public Long map(Long value) throws Exception {
            Long c = count.value();
            c = c == null ? 1L : c + 1L;
            count.update(c);
            return c;
        }
    }
}
