package io.flinkrag.mongo;

import de.bwaldvogel.mongo.bson.Document;

/**
 * One search index as {@code $listSearchIndexes} shows it. Status moves PENDING → BUILDING →
 * READY (or FAILED). While a new definition builds, the previous build keeps answering queries,
 * so the index stays queryable, as on Atlas.
 */
final class SearchIndex {
  static final String PENDING = "PENDING";
  static final String BUILDING = "BUILDING";
  static final String READY = "READY";
  static final String FAILED = "FAILED";

  final String id;
  final String name;
  final String database;
  final String collection;

  volatile IndexDefinition latest;
  volatile int latestVersion;
  volatile java.time.Instant latestAt = java.time.Instant.now();
  volatile String status = PENDING;
  volatile String message;
  /** The build that answers queries (null until the first build is READY). */
  volatile LuceneVectors serving;
  /** A build in progress, which writes also go to. */
  volatile LuceneVectors building;

  SearchIndex(String id, String name, String database, String collection, IndexDefinition latest) {
    this.id = id;
    this.name = name;
    this.database = database;
    this.collection = collection;
    this.latest = latest;
  }

  String namespace() {
    return database + "." + collection;
  }

  boolean queryable() {
    return serving != null;
  }

  Document describe() {
    Document doc = new Document("id", id)
        .append("name", name)
        .append("type", "vectorSearch")
        .append("status", status)
        .append("queryable", queryable())
        .append("latestDefinitionVersion",
            new Document("version", latestVersion).append("createdAt", latestAt))
        .append("latestDefinition", latest.source);
    if (message != null) {
      doc.append("message", message);
    }
    return doc;
  }

  Document persisted() {
    return new Document("id", id)
        .append("name", name)
        .append("database", database)
        .append("collection", collection)
        .append("version", latestVersion)
        .append("definition", latest.source);
  }
}
