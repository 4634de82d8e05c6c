package io.flinkrag.mongo;

import de.bwaldvogel.mongo.MongoCollection;
import de.bwaldvogel.mongo.MongoDatabase;
import de.bwaldvogel.mongo.backend.QueryParameters;
import de.bwaldvogel.mongo.backend.aggregation.Aggregation;
import de.bwaldvogel.mongo.backend.h2.H2Backend;
import de.bwaldvogel.mongo.bson.Document;
import de.bwaldvogel.mongo.exception.MongoServerError;
import io.netty.channel.Channel;
import java.nio.file.Path;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The H2 backend plus the Atlas Vector Search surface: {@code createSearchIndexes}, {@code
 * updateSearchIndex}, {@code dropSearchIndex}, the {@code $listSearchIndexes} and {@code
 * $vectorSearch} first stages (the rest of the pipeline then runs as usual), and every write to
 * an indexed collection passed on to its search indexes.
 */
final class SearchBackend extends H2Backend {
  /** Atlas's error code for a $vectorSearch it is too loaded to serve. */
  static final int OVERLOADED = 489;
  /** Test knob: the start value of {@link #overloaded} (the JVM property, default 0). */
  static final String OVERLOAD_PROPERTY = "flinkrag.mongo.overloadFirst";
  /** Test knob: the command that sets how many next $vectorSearch calls answer 489. */
  static final String OVERLOAD_COMMAND = "standInOverload";

  private final SearchIndexes indexes;
  /** The full-text ({@code type: "search"}) indexes, for $search and $rankFusion. */
  private final TextIndexes texts;
  private final FullTextSearch fullText;
  /** How many more $vectorSearch calls to refuse with 489, so clients can test back-pressure. */
  private final AtomicInteger overloaded = new AtomicInteger(Integer.getInteger(OVERLOAD_PROPERTY, 0));

  SearchBackend(Path dataFile) {
    super(dataFile.toString());
    indexes = new SearchIndexes(dataFile, this::readable);
    indexes.load();
    texts = new TextIndexes(dataFile, this::readable);
    texts.load();
    fullText = new FullTextSearch(indexes, texts);
  }

  @Override
  public Document handleCommand(Channel channel, String database, String command, Document query) {
    switch (command) {
      case "createSearchIndexes":
        return createSearchIndexes(database, query);
      case "updateSearchIndex":
        ReentrantLock writes = indexes.lock(database, collectionOf(query, command));
        boolean text;
        writes.lock();
        try {
          text = texts.update(database, collectionOf(query, command), query);
        } finally {
          writes.unlock();
        }
        if (!text) {
          indexes.update(database, collectionOf(query, command), query);
        }
        return ok(new Document());
      case "dropSearchIndex":
        if (!texts.drop(database, collectionOf(query, command), query)) {
          indexes.drop(database, collectionOf(query, command), query);
        }
        return ok(new Document());
      case OVERLOAD_COMMAND:
        return overload(query);
      case "aggregate":
        Document answer = searchAggregate(database, query);
        if (answer != null) {
          return answer;
        }
        break;
      case "insert":
      case "update":
      case "delete":
      case "findAndModify":
        if (query.get(command) instanceof String && (indexes.hasIndexes(database, (String) query.get(command))
            || texts.hasIndexes(database, (String) query.get(command)))) {
          return trackedWrite(channel, database, command, query);
        }
        break;
      case "drop":
        Document dropped = super.handleCommand(channel, database, command, query);
        indexes.dropNamespace(database, collectionOf(query, command));
        texts.dropNamespace(database, collectionOf(query, command));
        return dropped;
      case "dropDatabase":
        Document droppedDb = super.handleCommand(channel, database, command, query);
        indexes.dropNamespace(database, null);
        texts.dropNamespace(database, null);
        return droppedDb;
      default:
        break;
    }
    return super.handleCommand(channel, database, command, query);
  }

  // -- search-index commands --------------------------------------------------------------------

  private Document createSearchIndexes(String database, Document query) {
    String collection = collectionOf(query, "createSearchIndexes");
    if (readable(database, collection) == null) {
      throw new MongoServerError(26, "NamespaceNotFound",
          "Collection '" + database + "." + collection + "' does not exist.");
    }
    Object specs = query.get("indexes");
    if (!(specs instanceof List) || ((List<?>) specs).isEmpty()) {
      throw new MongoServerError(2, "BadValue", "'indexes' must be a non-empty array");
    }
    List<Document> created = fullText.create(database, collection, (List<?>) specs);
    return ok(new Document("indexesCreated", created));
  }

  /** An aggregate whose first stage is a search stage; null for any other pipeline. */
  private Document searchAggregate(String database, Document query) {
    Object raw = query.get("pipeline");
    if (!(raw instanceof List) || ((List<?>) raw).isEmpty() || !(query.get("aggregate") instanceof String)) {
      return null;
    }
    List<Document> pipeline = Aggregation.parse(raw);
    for (int i = 1; i < pipeline.size(); i++) {
      for (String stage : List.of("$vectorSearch", "$listSearchIndexes", "$search", "$rankFusion")) {
        if (pipeline.get(i).containsKey(stage)) {
          throw new MongoServerError(40602, "Location40602",
              stage + " is only valid as the first stage in a pipeline");
        }
      }
    }
    String collection = (String) query.get("aggregate");
    Document first = pipeline.get(0);
    List<Document> docs;
    if (first.containsKey("$listSearchIndexes")) {
      Object filter = first.get("$listSearchIndexes");
      Document byName = filter instanceof Document ? (Document) filter : new Document();
      docs = indexes.list(database, collection, byName);
      docs.addAll(texts.list(database, collection, byName));
    } else if (first.containsKey("$search") || first.containsKey("$rankFusion")) {
      docs = fullText.firstStage(database, collection, pipeline, readable(database, collection),
          (hits, stages, metas) -> laterStages(database, collection, hits, stages, metas));
    } else if (first.containsKey("$vectorSearch")) {
      Object spec = first.get("$vectorSearch");
      if (!(spec instanceof Document)) {
        throw VectorSearchStage.error("the stage's argument must be a document");
      }
      Document refused = overloadRefusal();
      if (refused != null) {
        return refused;
      }
      docs = VectorSearchStage.run((Document) spec, indexes, database, collection, readable(database, collection),
          pipeline.subList(1, pipeline.size()));
    } else {
      return null;
    }
    List<Document> out = laterStages(database, collection, docs, pipeline.subList(1, pipeline.size()),
        FullTextSearch.metasAfter(first));
    for (Document doc : out) {
      TextSearchStage.HIDDEN.forEach(doc::remove);
    }
    Document cursor = new Document("firstBatch", out)
        .append("id", 0L)
        .append("ns", database + "." + collection);
    return ok(new Document("cursor", cursor));
  }

  /** The stages after the search stage, run by the library's aggregation on the hits. */
  private List<Document> laterStages(String database, String collection, List<Document> docs,
                                     List<Document> stages, Map<String, String> metas) {
    List<Document> rest = LaterStages.rewrite(stages, metas);
    if (rest.isEmpty()) {
      return docs;
    }
    MongoDatabase db = resolveDatabase(database);
    MongoCollection<?> coll = db.resolveCollection(collection, false);
    return Aggregation.fromPipeline(rest, this::resolveDatabase, db, coll, oplog).runStages(docs.stream());
  }

  // -- the overload test knob ------------------------------------------------------------------

  /** {standInOverload: N}: the next N $vectorSearch calls answer 489; the answer has the old N. */
  private Document overload(Document query) {
    Object count = query.get(OVERLOAD_COMMAND);
    if (!(count instanceof Number) || ((Number) count).intValue() < 0) {
      throw new MongoServerError(2, "BadValue",
          "'" + OVERLOAD_COMMAND + "' takes how many next $vectorSearch calls answer 489 (0 or more)");
    }
    return ok(new Document("was", overloaded.getAndSet(((Number) count).intValue())));
  }

  /**
   * Atlas's answer to a search when the search node's admission queue is full (Search Load
   * Shedding, MongoDB docs): code 489, SearchRequestRejectedDueToOverload, labelled
   * SystemOverloadedError and not RetryableError, so drivers do not retry it on their own. A reply
   * document rather than a thrown MongoServerError, which cannot carry error labels. Null when the
   * knob has no refusals left.
   */
  private Document overloadRefusal() {
    if (overloaded.getAndUpdate(n -> n > 0 ? n - 1 : 0) <= 0) {
      return null;
    }
    return new Document("ok", 0.0)
        .append("errmsg", "$vectorSearch: the search node is overloaded and rejected the query;"
            + " retry after a short wait (stand-in test mode: " + OVERLOAD_COMMAND + ")")
        .append("code", OVERLOADED)
        .append("codeName", "SearchRequestRejectedDueToOverload")
        .append("errorLabels", List.of("SystemOverloadedError"));
  }

  // -- writes -----------------------------------------------------------------------------------

  /**
   * A write to a collection with search indexes: the ids it touches are read before (for
   * filters) and from the answer (upserts), and re-indexed once the write is done. The
   * collection's index lock keeps this in order with a running build.
   */
  private Document trackedWrite(Channel channel, String database, String command, Document query) {
    String collection = (String) query.get(command);
    ReentrantLock lock = indexes.lock(database, collection);
    lock.lock();
    try {
      Set<Object> ids = new LinkedHashSet<>();
      boolean known = collectIdsBefore(database, collection, command, query, ids);
      Document answer = super.handleCommand(channel, database, command, query);
      collectIdsAfter(command, answer, ids);
      if (known) {
        indexes.reindex(database, collection, ids);
        texts.reindex(database, collection, ids);
      } else {
        indexes.rebuildAll(database, collection);
        texts.rebuildAll(database, collection);
      }
      return answer;
    } finally {
      lock.unlock();
    }
  }

  private boolean collectIdsBefore(String database, String collection, String command, Document query, Set<Object> ids) {
    switch (command) {
      case "insert":
        for (Object doc : list(query.get("documents"))) {
          if (!(doc instanceof Document) || !((Document) doc).containsKey("_id")) {
            return false; // the server assigns the id: re-read the whole collection
          }
          ids.add(((Document) doc).get("_id"));
        }
        return true;
      case "update":
        for (Object statement : list(query.get("updates"))) {
          matching(database, collection, ((Document) statement).get("q"), ids);
        }
        return true;
      case "delete":
        for (Object statement : list(query.get("deletes"))) {
          matching(database, collection, ((Document) statement).get("q"), ids);
        }
        return true;
      case "findAndModify":
        matching(database, collection, query.get("query"), ids);
        return true;
      default:
        return false;
    }
  }

  private static void collectIdsAfter(String command, Document answer, Set<Object> ids) {
    for (Object upserted : list(answer.get("upserted"))) {
      ids.add(((Document) upserted).get("_id"));
    }
    if ("findAndModify".equals(command)) {
      Object value = answer.get("value");
      if (value instanceof Document) {
        ids.add(((Document) value).get("_id"));
      }
      Object last = answer.get("lastErrorObject");
      if (last instanceof Document && ((Document) last).get("upserted") != null) {
        ids.add(((Document) last).get("upserted"));
      }
    }
  }

  private void matching(String database, String collection, Object filter, Set<Object> ids) {
    MongoCollection<?> coll = resolveDatabase(database).resolveCollection(collection, false);
    if (coll == null) {
      return;
    }
    Document selector = filter instanceof Document ? (Document) filter : new Document();
    Object id = selector.get("_id");
    if (selector.size() == 1 && id != null && !(id instanceof Document)) {
      ids.add(id); // the common case (the Kafka sink's replace by _id): no query needed
      return;
    }
    for (Document doc : coll.handleQuery(new QueryParameters(selector, 0, 0))) {
      ids.add(doc.get("_id"));
    }
  }

  /** The collection's documents, or null when it does not exist. */
  private StoredDocuments readable(String database, String collection) {
    if (resolveDatabase(database).resolveCollection(collection, false) == null) {
      return null;
    }
    // MVStore hands out the map the collection itself holds (one instance per name).
    return new StoredDocuments(getMvStore().openMap(StoredDocuments.mapName(database, collection)));
  }

  private static String collectionOf(Document query, String command) {
    Object name = query.get(command);
    if (!(name instanceof String)) {
      throw new MongoServerError(2, "BadValue", "'" + command + "' must name a collection");
    }
    return (String) name;
  }

  private static List<?> list(Object value) {
    return value instanceof List ? (List<?>) value : List.of();
  }

  private static Document ok(Document answer) {
    answer.put("ok", 1.0);
    return answer;
  }

  @Override
  public void close() {
    indexes.close();
    texts.close();
    super.close();
  }
}
