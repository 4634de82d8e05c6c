package io.flinkrag.mongo;

import de.bwaldvogel.mongo.bson.Document;
import de.bwaldvogel.mongo.bson.ObjectId;
import de.bwaldvogel.mongo.exception.MongoServerError;
import de.bwaldvogel.mongo.wire.bson.BsonDecoder;
import de.bwaldvogel.mongo.wire.bson.BsonEncoder;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.BiFunction;
import org.apache.lucene.util.BytesRef;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The search indexes of every collection: their definitions (kept in a file beside the data, so
 * they survive restarts), their builds, and keeping them in step with writes.
 *
 * <p>A build streams the collection into a fresh Lucene index while writes go on; writes that land
 * meanwhile are recorded and re-read at the end under the collection's write lock, so the finished
 * index matches the collection. After a restart every index is rebuilt from the collection.
 */
final class SearchIndexes implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(SearchIndexes.class);
  /** How often writes become visible to $vectorSearch (Atlas, too, lags writes briefly). */
  static final long REFRESH_MS = 100;
  /** Builds up to this size end with a merge into one segment, which searches fastest. */
  static final int MERGE_BELOW_DOCS = 2_000_000;
  /** Documents handed to an indexing thread at a time during a build. */
  static final int BUILD_BATCH = 256;

  private final Map<String, SearchIndex> byId = new ConcurrentHashMap<>();
  private final Map<String, ReentrantLock> locks = new ConcurrentHashMap<>();
  private final Path definitionsFile;
  private final Path luceneRoot;
  private final BiFunction<String, String, StoredDocuments> collections;
  private final ExecutorService builder = Executors.newSingleThreadExecutor(r -> daemon(r, "search-index-build"));
  /**
   * One indexing thread beside the reading one: two threads indexing make two segments, and
   * joining their HNSW graphs re-inserts the smaller one's vectors (measured: 1.5x the CPU of one
   * segment, for at best 2x on two idle cores — and these cores are shared).
   */
  private final ExecutorService indexers =
      Executors.newSingleThreadExecutor(r -> daemon(r, "search-index-indexer"));
  private final ScheduledExecutorService refresher = Executors.newSingleThreadScheduledExecutor(r -> daemon(r, "search-index-refresh"));

  SearchIndexes(Path dataFile, BiFunction<String, String, StoredDocuments> collections) {
    this.definitionsFile = dataFile.resolveSibling(dataFile.getFileName() + ".search-indexes.bson");
    this.luceneRoot = dataFile.resolveSibling(dataFile.getFileName() + ".search");
    this.collections = collections;
    refresher.scheduleWithFixedDelay(this::refreshAll, REFRESH_MS, REFRESH_MS, TimeUnit.MILLISECONDS);
  }

  // -- admin ------------------------------------------------------------------------------------

  /** Reads the saved definitions and rebuilds each index from its collection. */
  void load() {
    if (!Files.exists(definitionsFile)) {
      return;
    }
    try {
      ByteBuf buffer = Unpooled.wrappedBuffer(Files.readAllBytes(definitionsFile));
      for (Object entry : (List<?>) BsonDecoder.decodeBson(buffer).get("indexes")) {
        Document saved = (Document) entry;
        SearchIndex index = new SearchIndex((String) saved.get("id"), (String) saved.get("name"),
            (String) saved.get("database"), (String) saved.get("collection"),
            IndexDefinition.parse(saved.get("definition")));
        index.latestVersion = ((Number) saved.get("version")).intValue();
        byId.put(index.id, index);
        scheduleBuild(index);
      }
    } catch (IOException | RuntimeException err) {
      log.error("cannot read search index definitions from {}: {}", definitionsFile, err.toString());
    }
  }

  List<Document> create(String database, String collection, List<?> specs) {
    List<SearchIndex> created = new ArrayList<>();
    ReentrantLock lock = lock(database, collection);
    lock.lock();
    try {
      for (Object raw : specs) {
        if (!(raw instanceof Document)) {
          throw IndexDefinition.invalid("each entry of 'indexes' must be a document");
        }
        Document spec = (Document) raw;
        String name = String.valueOf(spec.getOrDefault("name", "default"));
        String type = String.valueOf(spec.getOrDefault("type", "search"));
        if (!"vectorSearch".equals(type)) {
          throw new MongoServerError(IndexDefinition.BAD_VALUE, "BadValue",
              "the local stand-in has only vectorSearch indexes, not type '" + type + "'");
        }
        if (find(database, collection, name) != null) {
          throw new MongoServerError(68, "IndexAlreadyExists", "Index " + name + " already exists.");
        }
        SearchIndex index = new SearchIndex(new ObjectId().getHexData(), name, database, collection,
            IndexDefinition.parse(spec.get("definition")));
        created.add(index);
      }
      for (SearchIndex index : created) {
        byId.put(index.id, index);
        scheduleBuild(index);
      }
      save();
    } finally {
      lock.unlock();
    }
    List<Document> answer = new ArrayList<>();
    for (SearchIndex index : created) {
      answer.add(new Document("id", index.id).append("name", index.name));
    }
    return answer;
  }

  void update(String database, String collection, Document command) {
    SearchIndex index = require(database, collection, command);
    IndexDefinition definition = IndexDefinition.parse(command.get("definition"));
    ReentrantLock lock = lock(database, collection);
    lock.lock();
    try {
      index.latest = definition;
      index.latestVersion++;
      index.latestAt = java.time.Instant.now();
      index.status = SearchIndex.PENDING;
      save();
    } finally {
      lock.unlock();
    }
    scheduleBuild(index);
  }

  void drop(String database, String collection, Document command) {
    SearchIndex index = require(database, collection, command);
    remove(List.of(index));
  }

  /** Dropping a collection (or its database) drops its search indexes, as on Atlas. */
  void dropNamespace(String database, String collection) {
    List<SearchIndex> gone = new ArrayList<>();
    for (SearchIndex index : byId.values()) {
      if (index.database.equals(database) && (collection == null || index.collection.equals(collection))) {
        gone.add(index);
      }
    }
    if (!gone.isEmpty()) {
      remove(gone);
    }
  }

  List<Document> list(String database, String collection, Document filter) {
    List<Document> found = new ArrayList<>();
    for (SearchIndex index : of(database, collection)) {
      Object name = filter.get("name");
      Object id = filter.get("id");
      if ((name == null || name.equals(index.name)) && (id == null || id.equals(index.id))) {
        found.add(index.describe());
      }
    }
    return found;
  }

  SearchIndex find(String database, String collection, String name) {
    for (SearchIndex index : of(database, collection)) {
      if (index.name.equals(name)) {
        return index;
      }
    }
    return null;
  }

  boolean hasIndexes(String database, String collection) {
    return !of(database, collection).isEmpty();
  }

  ReentrantLock lock(String database, String collection) {
    return locks.computeIfAbsent(database + "." + collection, k -> new ReentrantLock());
  }

  // -- keeping in step with writes --------------------------------------------------------------

  /** Re-reads the given documents and updates every index of the collection (call under lock). */
  void reindex(String database, String collection, Collection<Object> ids) {
    List<SearchIndex> indexes = of(database, collection);
    if (indexes.isEmpty() || ids.isEmpty()) {
      return;
    }
    StoredDocuments source = collections.apply(database, collection);
    for (Object id : ids) {
      Document doc = source == null ? null : source.byId(id);
      for (SearchIndex index : indexes) {
        for (LuceneVectors target : new LuceneVectors[] {index.serving, index.building}) {
          if (target == null) {
            continue;
          }
          try {
            if (doc == null) {
              target.delete(id);
            } else {
              target.upsert(doc);
            }
          } catch (IOException | RuntimeException err) {
            log.error("search index {} could not index {}: {}", index.name, id, err.toString());
          }
        }
      }
    }
  }

  /** Every index of the collection rebuilt (used when a write's ids cannot be known). */
  void rebuildAll(String database, String collection) {
    for (SearchIndex index : of(database, collection)) {
      scheduleBuild(index);
    }
  }

  // -- builds -----------------------------------------------------------------------------------

  private void scheduleBuild(SearchIndex index) {
    int version = index.latestVersion;
    builder.submit(() -> build(index, version));
  }

  private void build(SearchIndex index, int version) {
    if (byId.get(index.id) != index || index.latestVersion != version) {
      return; // dropped, or superseded by a newer definition whose build is queued
    }
    ReentrantLock lock = lock(index.database, index.collection);
    LuceneVectors fresh;
    lock.lock();
    try {
      index.status = SearchIndex.BUILDING;
      fresh = new LuceneVectors(index.latest, luceneRoot.resolve(index.id + "-v" + version));
      index.building = fresh;
    } finally {
      lock.unlock();
    }
    long started = System.nanoTime();
    try {
      StoredDocuments source = collections.apply(index.database, index.collection);
      int count = source == null ? 0 : indexAll(source, fresh);
      long streamed = System.nanoTime();
      fresh.finishBuild(count <= MERGE_BELOW_DOCS);
      // Where a build's time goes: reading and indexing the collection, then the final merge.
      log.info("search index {} on {}: {} documents read and indexed in {} ms, merged in {} ms",
          index.name, index.namespace(), count, (streamed - started) / 1_000_000,
          (System.nanoTime() - streamed) / 1_000_000);
      LuceneVectors previous;
      int rereads;
      lock.lock();
      try {
        if (byId.get(index.id) != index || index.latestVersion != version) {
          index.building = null;
          fresh.closeAndDelete();
          return;
        }
        Set<BytesRef> touched = fresh.touchedDuringBuild;
        fresh.touchedDuringBuild = null;
        List<Object> ids = new ArrayList<>();
        for (BytesRef key : touched) {
          ids.add(LuceneVectors.decodeKey(key));
        }
        rereads = ids.size();

        index.building = null;
        previous = index.serving;
        index.serving = fresh;
        index.status = SearchIndex.READY; // set before re-reading: reindex writes to serving
        index.message = null;
        reindex(index.database, index.collection, ids);
        fresh.refresh();
      } finally {
        lock.unlock();
      }
      if (previous != null) {
        previous.closeAndDelete();
      }
      log.info("search index {} on {} READY: {} documents in {} ms ({} written during the build re-read)",
          index.name, index.namespace(), fresh.documents(), (System.nanoTime() - started) / 1_000_000,
          rereads);
    } catch (IOException | RuntimeException | Error err) {
      // An Error (out of memory, a class replaced under the running JVM) must not leave the
      // index BUILDING forever: clients polling for READY would wait without end.
      log.error("search index {} on {} FAILED", index.name, index.namespace(), err);
      index.building = null;
      index.status = SearchIndex.FAILED;
      index.message = "build failed: " + err;
      fresh.closeAndDelete();
      if (err instanceof VirtualMachineError) {
        throw (VirtualMachineError) err;
      }
    }
  }

  /**
   * Streams the collection into the build: this thread reads (H2 decodes each document) while
   * the indexing thread inserts batches into the HNSW graph, so reading and indexing overlap.
   * Returns how many documents were read.
   */
  private int indexAll(StoredDocuments source, LuceneVectors fresh) throws IOException {
    Semaphore inFlight = new Semaphore(4);
    List<Future<?>> pending = new ArrayList<>();
    List<Document> batch = new ArrayList<>(BUILD_BATCH);
    int count = 0;
    try {
      for (Document doc : (Iterable<Document>) source.streamAll()::iterator) {
        batch.add(doc);
        count++;
        if (batch.size() == BUILD_BATCH) {
          pending.add(submitBatch(batch, fresh, inFlight));
          batch = new ArrayList<>(BUILD_BATCH);
          pending.removeIf(Future::isDone);
        }
      }
      if (!batch.isEmpty()) {
        pending.add(submitBatch(batch, fresh, inFlight));
      }
      for (Future<?> task : pending) {
        task.get();
      }
    } catch (InterruptedException err) {
      Thread.currentThread().interrupt();
      throw new IOException("build interrupted", err);
    } catch (ExecutionException err) {
      Throwable cause = err.getCause();
      if (cause instanceof IOException) {
        throw (IOException) cause;
      }
      throw new IllegalStateException("indexing failed: " + cause, cause);
    } finally {
      for (Future<?> task : pending) {
        task.cancel(false);
      }
    }
    return count;
  }

  private Future<?> submitBatch(List<Document> batch, LuceneVectors fresh, Semaphore inFlight)
      throws InterruptedException {
    inFlight.acquire(); // bounds the documents read ahead of the indexing threads
    try {
      return indexers.submit(() -> {
        try {
          for (Document doc : batch) {
            fresh.upsertFromBuild(doc);
          }
          return null;
        } finally {
          inFlight.release();
        }
      });
    } catch (RuntimeException err) {
      inFlight.release();
      throw err;
    }
  }

  private void refreshAll() {
    for (SearchIndex index : byId.values()) {
      LuceneVectors serving = index.serving;
      if (serving == null) {
        continue;
      }
      try {
        serving.refresh();
      } catch (IOException | RuntimeException err) {
        log.warn("search index {} refresh failed: {}", index.name, err.toString());
      }
    }
  }

  // -- helpers ----------------------------------------------------------------------------------

  private List<SearchIndex> of(String database, String collection) {
    List<SearchIndex> found = new ArrayList<>();
    for (SearchIndex index : byId.values()) {
      if (index.database.equals(database) && index.collection.equals(collection)) {
        found.add(index);
      }
    }
    return found;
  }

  private SearchIndex require(String database, String collection, Document command) {
    Object name = command.get("name");
    Object id = command.get("id");
    for (SearchIndex index : of(database, collection)) {
      if ((name != null && name.equals(index.name)) || (id != null && id.equals(index.id))) {
        return index;
      }
    }
    throw new MongoServerError(27, "IndexNotFound",
        "Search index " + (name != null ? name : id) + " not found on " + database + "." + collection);
  }

  private void remove(List<SearchIndex> gone) {
    for (SearchIndex index : gone) {
      ReentrantLock lock = lock(index.database, index.collection);
      lock.lock();
      try {
        byId.remove(index.id);
        for (LuceneVectors build : new LuceneVectors[] {index.serving, index.building}) {
          if (build != null) {
            build.closeAndDelete();
          }
        }
        index.serving = index.building = null;
      } finally {
        lock.unlock();
      }
    }
    save();
  }

  private synchronized void save() {
    List<Document> saved = new ArrayList<>();
    for (SearchIndex index : byId.values()) {
      saved.add(index.persisted());
    }
    ByteBuf buffer = Unpooled.buffer();
    try {
      BsonEncoder.encodeDocument(new Document("indexes", saved), buffer);
      byte[] bytes = new byte[buffer.readableBytes()];
      buffer.readBytes(bytes);
      Path temp = definitionsFile.resolveSibling(definitionsFile.getFileName() + ".tmp");
      Files.write(temp, bytes);
      Files.move(temp, definitionsFile, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    } catch (IOException err) {
      throw new UncheckedIOException(err);
    } finally {
      buffer.release();
    }
  }

  private static Thread daemon(Runnable runnable, String name) {
    Thread thread = new Thread(runnable, name);
    thread.setDaemon(true);
    return thread;
  }

  @Override
  public void close() {
    refresher.shutdownNow();
    builder.shutdownNow();
    indexers.shutdownNow();
    for (SearchIndex index : byId.values()) {
      for (LuceneVectors build : new LuceneVectors[] {index.serving, index.building}) {
        if (build != null) {
          try {
            build.close();
          } catch (IOException ignored) {
            // shutting down
          }
        }
      }
    }
  }
}
