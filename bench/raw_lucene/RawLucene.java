import java.io.DataInputStream;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.lucene.codecs.Codec;
import org.apache.lucene.codecs.KnnVectorsFormat;
import org.apache.lucene.codecs.lucene912.Lucene912Codec;
import org.apache.lucene.codecs.lucene99.Lucene99HnswVectorsFormat;
import org.apache.lucene.document.Document;
import org.apache.lucene.document.KnnFloatVectorField;
import org.apache.lucene.document.StoredField;
import org.apache.lucene.index.DirectoryReader;
import org.apache.lucene.index.IndexWriter;
import org.apache.lucene.index.IndexWriterConfig;
import org.apache.lucene.index.VectorSimilarityFunction;
import org.apache.lucene.search.IndexSearcher;
import org.apache.lucene.search.KnnFloatVectorQuery;
import org.apache.lucene.search.ScoreDoc;
import org.apache.lucene.search.TopDocs;
import org.apache.lucene.store.FSDirectory;

/**
 * Raw in-process Lucene on the benchmark's vectors: the floor the stand-in is compared with.
 *
 * <p>{@code java -cp 'jars/lib/mongo/*' bench/raw_lucene/RawLucene.java DOCS.f32 QUERIES.f32
 * TRUTH.i32 DIMS K NUM_CANDIDATES THREADS MAX_CONN BEAM_WIDTH}: the .f32 files are little-endian
 * float32 rows, TRUTH the exact top-K ids per query (int32). Builds an HNSW index the way the
 * stand-in does (one segment, cosine), then queries from THREADS threads, and prints one JSON
 * line: build seconds and CPU, lookups/s, CPU ms per lookup, recall@K.
 */
public final class RawLucene {
  public static void main(String[] args) throws Exception {
    int dims = Integer.parseInt(args[3]);
    int k = Integer.parseInt(args[4]);
    int candidates = Integer.parseInt(args[5]);
    int threads = Integer.parseInt(args[6]);
    int maxConn = Integer.parseInt(args[7]);
    int beam = Integer.parseInt(args[8]);
    float[][] docs = read(Path.of(args[0]), dims);
    float[][] queries = read(Path.of(args[1]), dims);
    int[] truth = readInts(Path.of(args[2]));
    Path dir = Files.createTempDirectory("raw-lucene-");
    KnnVectorsFormat format = new Lucene99HnswVectorsFormat(maxConn, beam);
    Codec codec = new Lucene912Codec() {
      @Override
      public KnnVectorsFormat getKnnVectorsFormatForField(String field) {
        return format;
      }
    };
    long cpu0 = cpu();
    long t0 = System.nanoTime();
    try (FSDirectory store = FSDirectory.open(dir)) {
      IndexWriterConfig config = new IndexWriterConfig().setRAMBufferSizeMB(1024).setCodec(codec);
      try (IndexWriter writer = new IndexWriter(store, config)) {
        for (int i = 0; i < docs.length; i++) {
          Document doc = new Document();
          doc.add(new StoredField("id", i));
          doc.add(new KnnFloatVectorField("v", docs[i], VectorSimilarityFunction.COSINE));
          writer.addDocument(doc);
        }
        writer.forceMerge(1);
        writer.commit();
      }
      double buildS = (System.nanoTime() - t0) / 1e9;
      double buildCpuS = (cpu() - cpu0) / 1e9;
      try (DirectoryReader reader = DirectoryReader.open(store)) {
        IndexSearcher searcher = new IndexSearcher(reader);
        int[][] found = new int[queries.length][];
        for (int i = 0; i < Math.min(100, queries.length); i++) {
          search(searcher, queries[i], k, candidates); // JIT warm-up
        }
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        AtomicInteger next = new AtomicInteger();
        long c0 = cpu();
        long s0 = System.nanoTime();
        List<Future<?>> running = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
          running.add(pool.submit(() -> {
            for (int i = next.getAndIncrement(); i < queries.length; i = next.getAndIncrement()) {
              found[i] = search(searcher, queries[i], k, candidates);
            }
            return null;
          }));
        }
        for (Future<?> f : running) {
          f.get();
        }
        double elapsed = (System.nanoTime() - s0) / 1e9;
        double cpuMs = (cpu() - c0) / 1e6 / queries.length;
        pool.shutdown();
        double hits = 0;
        for (int q = 0; q < queries.length; q++) {
          for (int id : found[q]) {
            for (int j = 0; j < k; j++) {
              if (truth[q * k + j] == id) {
                hits++;
                break;
              }
            }
          }
        }
        System.out.printf(
            "{\"docs\": %d, \"build_s\": %.1f, \"build_cpu_s\": %.1f, \"threads\": %d, "
                + "\"lookups_per_s\": %.1f, \"cpu_ms_per_lookup\": %.3f, \"recall_at_%d\": %.4f, "
                + "\"java\": \"%s\"}%n",
            docs.length, buildS, buildCpuS, threads, queries.length / elapsed, cpuMs, k,
            hits / (queries.length * (double) k), Runtime.version());
      }
    } finally {
      try (var walk = Files.walk(dir)) {
        walk.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
      }
    }
  }

  private static int[] search(IndexSearcher searcher, float[] query, int k, int candidates)
      throws IOException {
    TopDocs top = searcher.search(new KnnFloatVectorQuery("v", query, candidates), candidates);
    int n = Math.min(k, top.scoreDocs.length);
    int[] ids = new int[n];
    for (int i = 0; i < n; i++) {
      ScoreDoc hit = top.scoreDocs[i];
      ids[i] = searcher.storedFields().document(hit.doc).getField("id").numericValue().intValue();
    }
    return ids;
  }

  /** CPU time of the whole JVM (every thread, including merges and the JIT), in nanoseconds. */
  private static long cpu() {
    return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean())
        .getProcessCpuTime();
  }

  private static float[][] read(Path file, int dims) throws IOException {
    ByteBuffer bytes = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
    float[][] rows = new float[bytes.remaining() / 4 / dims][dims];
    for (float[] row : rows) {
      bytes.asFloatBuffer().get(row);
      bytes.position(bytes.position() + 4 * dims);
    }
    return rows;
  }

  private static int[] readInts(Path file) throws IOException {
    ByteBuffer bytes = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
    int[] out = new int[bytes.remaining() / 4];
    bytes.asIntBuffer().get(out);
    return out;
  }
}
