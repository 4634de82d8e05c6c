package io.flinkrag.mongo;

import de.bwaldvogel.mongo.backend.Missing;
import de.bwaldvogel.mongo.backend.Utils;
import de.bwaldvogel.mongo.bson.Document;
import de.bwaldvogel.mongo.wire.bson.BsonDecoder;
import de.bwaldvogel.mongo.wire.bson.BsonEncoder;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.io.Closeable;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.lucene.codecs.Codec;
import org.apache.lucene.codecs.KnnVectorsFormat;
import org.apache.lucene.codecs.lucene912.Lucene912Codec;
import org.apache.lucene.codecs.lucene99.Lucene99HnswVectorsFormat;
import org.apache.lucene.document.Field;
import org.apache.lucene.document.KnnFloatVectorField;
import org.apache.lucene.document.BinaryDocValuesField;
import org.apache.lucene.document.StringField;
import org.apache.lucene.index.FloatVectorValues;
import org.apache.lucene.index.IndexReader;
import org.apache.lucene.index.IndexWriter;
import org.apache.lucene.index.IndexWriterConfig;
import org.apache.lucene.index.LeafReaderContext;
import org.apache.lucene.index.BinaryDocValues;
import org.apache.lucene.index.ReaderUtil;
import org.apache.lucene.index.Term;
import org.apache.lucene.search.DocIdSetIterator;
import org.apache.lucene.search.IndexSearcher;
import org.apache.lucene.search.KnnFloatVectorQuery;
import org.apache.lucene.search.Query;
import org.apache.lucene.search.ScoreDoc;
import org.apache.lucene.search.ScoreMode;
import org.apache.lucene.search.Scorer;
import org.apache.lucene.search.SearcherFactory;
import org.apache.lucene.search.SearcherManager;
import org.apache.lucene.search.TopDocs;
import org.apache.lucene.search.Weight;
import org.apache.lucene.store.FSDirectory;
import org.apache.lucene.util.Bits;
import org.apache.lucene.util.BytesRef;

/**
 * One built (or building) Lucene index for a search index definition: an HNSW graph per vector
 * path ({@link KnnFloatVectorField}) plus the filter paths, keyed by the document's {@code _id}.
 * The directory lives on disk (memory-mapped), so vectors stay off the Java heap.
 */
final class LuceneVectors implements Closeable {
  private static final String ID = "_id";
  /** The document without its indexed vectors, as BSON: what most pipelines return of a hit. */
  private static final String SLIM = "_slim";

  /**
   * A hit: the document's _id (BSON value), its score on Atlas's scale, and the document without
   * its indexed vectors as this index's searcher saw it, or null when the collection must be read
   * (written since that searcher opened, or a vector path that is not a top-level field).
   */
  record Hit(Object id, double score, Document slim) {
    Hit(Object id, double score) {
      this(id, score, null);
    }
  }

  /** Threads that join HNSW graphs when segments merge (builds past the RAM buffer). */
  static final int WORKERS = Math.max(1, Runtime.getRuntime().availableProcessors());
  private static final double RAM_BUFFER_MB = 256;
  /** How long a lookup may hold one searcher and still be told which of its hits were rewritten. */
  private static final long PRUNE_NS = 30_000_000_000L;
  private static final ExecutorService MERGE_WORKERS = Executors.newFixedThreadPool(WORKERS, r -> {
    Thread thread = new Thread(r, "search-index-merge");
    thread.setDaemon(true);
    return thread;
  });
  /**
   * Candidates kept per insert while the HNSW graph is built (Lucene's and Atlas's default: 100).
   * A build's CPU is nearly proportional to it: 100 → 40 measured 2.7x less build CPU in raw Lucene
   * (1.8x in the stand-in at 100k) for recall@10 of 0.9998 at 20k and 0.976 at 100k (was 1.0 and
   * 0.9996, numCandidates 200): the query's numCandidates does most of the work on these graphs.
   */
  static final int BEAM_WIDTH = 40;
  /** Lucene's codec: neighbours per node as on Atlas (16), merges join graphs on every core. */
  private static final Codec CODEC = new Lucene912Codec() {
    private final KnnVectorsFormat vectors = new Lucene99HnswVectorsFormat(
        Lucene99HnswVectorsFormat.DEFAULT_MAX_CONN, BEAM_WIDTH,
        WORKERS, WORKERS > 1 ? MERGE_WORKERS : null);

    @Override
    public KnnVectorsFormat getKnnVectorsFormatForField(String field) {
      return vectors;
    }
  };

  final IndexDefinition definition;
  private final Path directory;
  private final FSDirectory store;
  private final IndexWriter writer;
  private final SearcherManager searchers;
  /** Counts writes; a searcher covers every write up to the count read before it opened. */
  private final AtomicLong writes = new AtomicLong();
  /** The write count at each id's last write, so a hit written since its searcher is re-read. */
  private final Map<BytesRef, Long> lastWrite = new ConcurrentHashMap<>();
  /** The write count the next searcher covers (set under the refresh lock, read by the factory). */
  private volatile long opening;
  private long pruneBelow;
  private long prunedAt = System.nanoTime();
  /** Whether every vector path is a top-level field, so the slim document drops it by key. */
  private final boolean storesSlim;

  /** While the initial build streams the collection: ids written meanwhile, re-read at the end. */
  volatile Set<BytesRef> touchedDuringBuild = ConcurrentHashMap.newKeySet();

  LuceneVectors(IndexDefinition definition, Path directory) {
    this.definition = definition;
    this.directory = directory;
    this.storesSlim = definition.vectors.keySet().stream().noneMatch(path -> path.contains("."));
    try {
      deleteTree(directory);
      Files.createDirectories(directory);
      store = FSDirectory.open(directory);
      IndexWriterConfig config = new IndexWriterConfig();
      // Large enough that a build of 100k 384-dim vectors flushes once: each flush is a segment
      // whose HNSW graph a merge must join by re-inserting its vectors.
      config.setRAMBufferSizeMB(RAM_BUFFER_MB);
      config.setCodec(CODEC);
      config.setOpenMode(IndexWriterConfig.OpenMode.CREATE);
      writer = new IndexWriter(store, config);
      searchers = new SearcherManager(writer, true, false, new SearcherFactory() {
        @Override
        public IndexSearcher newSearcher(IndexReader reader, IndexReader previous) {
          return new CoveringSearcher(reader, opening);
        }
      });
    } catch (IOException err) {
      throw new UncheckedIOException(err);
    }
  }

  // -- writes -----------------------------------------------------------------------------------

  /** Index (or re-index) a document written meanwhile; recorded while the build streams. */
  void upsert(Document doc) throws IOException {
    BytesRef key = key(doc.get(ID));
    Set<BytesRef> touched = touchedDuringBuild;
    if (touched != null) {
      touched.add(key);
    }
    write(key, doc);
    wrote(key);
  }

  /** Called after the writer has the write, so a searcher opened after the count includes it. */
  private void wrote(BytesRef key) {
    lastWrite.put(key, writes.incrementAndGet());
  }

  /**
   * Index a document the build itself streamed from the collection. Not recorded: the build's
   * own upserts are no writes to re-read at the end (recording them re-read the whole
   * collection under the write lock after every build).
   */
  void upsertFromBuild(Document doc) throws IOException {
    write(key(doc.get(ID)), doc);
  }

  /** One without a usable vector is removed, as Atlas skips it. */
  private void write(BytesRef key, Document doc) throws IOException {
    org.apache.lucene.document.Document entry = new org.apache.lucene.document.Document();
    entry.add(new StringField(ID, key, Field.Store.NO));
    entry.add(new BinaryDocValuesField(ID, key));
    boolean any = false;
    for (IndexDefinition.VectorField field : definition.vectors.values()) {
      float[] vector = vector(doc, field);
      if (vector != null) {
        entry.add(new KnnFloatVectorField("v:" + field.path(), vector, field.function()));
        any = true;
      }
    }
    if (!any) {
      writer.deleteDocuments(new Term(ID, key));
      return;
    }
    FilterQuery.addFields(entry, doc, definition.filters);
    if (storesSlim) {
      Document slim = new Document(doc);
      definition.vectors.keySet().forEach(slim::remove);
      entry.add(new BinaryDocValuesField(SLIM, bson(slim)));
    }
    writer.updateDocument(new Term(ID, key), entry);
  }

  void delete(Object id) throws IOException {
    BytesRef key = key(id);
    Set<BytesRef> touched = touchedDuringBuild;
    if (touched != null) {
      touched.add(key);
    }
    writer.deleteDocuments(new Term(ID, key));
    wrote(key);
  }

  /** Make the writes so far visible to searches (Atlas, too, shows writes after a short lag). */
  void refresh() throws IOException {
    refresh(false);
  }

  void finishBuild(boolean merge) throws IOException {
    if (merge) {
      writer.forceMerge(1); // one HNSW graph searches faster than several segments' graphs
    }
    writer.commit();
    refresh(true);
  }

  /**
   * Serialized, so the count a new searcher records was read before its reader opened. Every
   * PRUNE_NS, ids whose last write every searcher opened since the previous prune covers are
   * forgotten: only a lookup holding one searcher longer than that could still need them.
   */
  private synchronized void refresh(boolean blocking) throws IOException {
    opening = writes.get();
    if (blocking) {
      searchers.maybeRefreshBlocking();
    } else {
      searchers.maybeRefresh();
    }
    long now = System.nanoTime();
    if (now - prunedAt > PRUNE_NS) {
      long below = pruneBelow;
      lastWrite.values().removeIf(count -> count <= below);
      pruneBelow = opening;
      prunedAt = now;
    }
  }

  // -- searches ---------------------------------------------------------------------------------

  /** Top `limit` of an HNSW search over `candidates` (ANN), or of every match (exact, ENN). */
  List<Hit> search(IndexDefinition.VectorField field, float[] target, int limit, int candidates,
                   Query filter, boolean exact) throws IOException {
    CoveringSearcher searcher = (CoveringSearcher) searchers.acquire();
    try {
      List<ScoreDoc> found = exact
          ? exactSearch(searcher, field, target, limit, filter)
          : List.of(annSearch(searcher, field, target, candidates, filter).scoreDocs);
      List<Hit> hits = new ArrayList<>();
      List<LeafReaderContext> leaves = searcher.getIndexReader().leaves();
      for (ScoreDoc scoreDoc : found) {
        if (hits.size() >= limit) {
          break;
        }
        LeafReaderContext leaf = leaves.get(ReaderUtil.subIndex(scoreDoc.doc, leaves));
        BytesRef key = BytesRef.deepCopyOf(value(leaf, ID, scoreDoc.doc - leaf.docBase));
        Long written = lastWrite.get(key);
        BytesRef slim = written == null || written <= searcher.covers
            ? value(leaf, SLIM, scoreDoc.doc - leaf.docBase)
            : null;
        hits.add(new Hit(decodeKey(key), field.atlasScore(scoreDoc.score), slim == null ? null : decode(slim)));
      }
      return hits;
    } finally {
      searchers.release(searcher);
    }
  }

  /**
   * A hit's binary doc value (uncompressed, memory-mapped): reading stored fields instead
   * decompressed a whole block of documents per hit, 22% of a lookup's CPU at 100k documents.
   */
  private static BytesRef value(LeafReaderContext leaf, String field, int doc) throws IOException {
    BinaryDocValues values = leaf.reader().getBinaryDocValues(field);
    return values != null && values.advanceExact(doc) ? values.binaryValue() : null;
  }

  private static TopDocs annSearch(IndexSearcher searcher, IndexDefinition.VectorField field,
                                   float[] target, int candidates, Query filter) throws IOException {
    return searcher.search(new KnnFloatVectorQuery("v:" + field.path(), target, candidates, filter), candidates);
  }

  private static List<ScoreDoc> exactSearch(IndexSearcher searcher, IndexDefinition.VectorField field,
                                            float[] target, int limit, Query filter) throws IOException {
    PriorityQueue<ScoreDoc> best = new PriorityQueue<>(Comparator.comparingDouble(d -> d.score));
    Weight weight = filter == null
        ? null
        : searcher.createWeight(searcher.rewrite(filter), ScoreMode.COMPLETE_NO_SCORES, 1f);
    for (LeafReaderContext leaf : searcher.getIndexReader().leaves()) {
      FloatVectorValues values = leaf.reader().getFloatVectorValues("v:" + field.path());
      if (values == null) {
        continue;
      }
      DocIdSetIterator docs = values;
      if (weight != null) {
        Scorer scorer = weight.scorer(leaf);
        if (scorer == null) {
          continue;
        }
        docs = scorer.iterator();
      }
      Bits live = leaf.reader().getLiveDocs();
      for (int doc = docs.nextDoc(); doc != DocIdSetIterator.NO_MORE_DOCS; doc = docs.nextDoc()) {
        if (live != null && !live.get(doc)) {
          continue;
        }
        if (docs != values && values.docID() < doc && values.advance(doc) != doc) {
          continue;
        }
        if (values.docID() != doc) {
          continue;
        }
        float score = field.function().compare(target, values.vectorValue());
        if (best.size() < limit) {
          best.add(new ScoreDoc(leaf.docBase + doc, score));
        } else if (score > best.peek().score) {
          best.poll();
          best.add(new ScoreDoc(leaf.docBase + doc, score));
        }
      }
    }
    List<ScoreDoc> sorted = new ArrayList<>(best);
    sorted.sort(Comparator.comparingDouble((ScoreDoc d) -> d.score).reversed());
    return sorted;
  }

  int documents() throws IOException {
    IndexSearcher searcher = searchers.acquire();
    try {
      return searcher.getIndexReader().numDocs();
    } finally {
      searchers.release(searcher);
    }
  }

  /** Discards rather than commits: every index is rebuilt from its collection on start. */
  @Override
  public void close() throws IOException {
    try {
      searchers.close();
      writer.rollback();
    } finally {
      store.close();
    }
  }

  void closeAndDelete() {
    try {
      close();
    } catch (IOException | RuntimeException ignored) {
      // the directory goes anyway
    }
    deleteTree(directory);
  }

  // -- helpers ----------------------------------------------------------------------------------

  /** The vector at the field's path as floats, or null when it is absent or unusable. */
  static float[] vector(Document doc, IndexDefinition.VectorField field) {
    Object value = Utils.getSubdocumentValue(doc, field.path());
    if (value instanceof Missing || !(value instanceof List)) {
      return null;
    }
    List<?> list = (List<?>) value;
    if (list.size() != field.dimensions()) {
      return null; // Atlas does not index a vector of the wrong length
    }
    float[] vector = new float[list.size()];
    double norm = 0;
    for (int i = 0; i < vector.length; i++) {
      Object element = list.get(i);
      if (!(element instanceof Number)) {
        return null;
      }
      vector[i] = ((Number) element).floatValue();
      if (!Float.isFinite(vector[i])) {
        return null;
      }
      norm += (double) vector[i] * vector[i];
    }
    if (norm == 0 && !"euclidean".equals(field.similarity())) {
      return null; // no angle to a zero vector
    }
    return field.normalizes() ? scaled(vector, norm) : vector;
  }

  /** The vector divided by its length (`squaredNorm` is its squared length, in doubles). */
  static float[] scaled(float[] vector, double squaredNorm) {
    double length = Math.sqrt(squaredNorm);
    for (int i = 0; i < vector.length; i++) {
      vector[i] = (float) (vector[i] / length);
    }
    return vector;
  }

  /** The _id as BSON bytes: every BSON type round-trips and keys a Lucene term. */
  static BytesRef key(Object id) {
    return bson(new Document(ID, id));
  }

  static Object decodeKey(BytesRef key) {
    return decode(key).get(ID);
  }

  private static Document decode(BytesRef bson) {
    return BsonDecoder.decodeBson(Unpooled.wrappedBuffer(bson.bytes, bson.offset, bson.length));
  }

  private static BytesRef bson(Document doc) {
    ByteBuf buffer = Unpooled.buffer();
    try {
      BsonEncoder.encodeDocument(doc, buffer);
      byte[] bytes = new byte[buffer.readableBytes()];
      buffer.readBytes(bytes);
      return new BytesRef(bytes);
    } finally {
      buffer.release();
    }
  }

  /** A searcher that knows the write count it covers (every write counted up to it is in it). */
  private static final class CoveringSearcher extends IndexSearcher {
    final long covers;

    CoveringSearcher(IndexReader reader, long covers) {
      super(reader);
      this.covers = covers;
    }
  }

  private static void deleteTree(Path path) {
    if (!Files.exists(path)) {
      return;
    }
    try (var walk = Files.walk(path)) {
      walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    } catch (IOException err) {
      throw new UncheckedIOException(err);
    }
  }
}
