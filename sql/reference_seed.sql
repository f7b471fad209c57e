-- pulse install script: the starter reference data.
--
-- These rows are built-in (is_builtin = true): a DBA extends the tables with rows of their
-- own, and upgrade scripts add or retire built-in rows by code. Their meaning is written
-- down in docs/reference-glossary.md, which a test keeps equal to this data.

INSERT INTO pulse.access_role_reference
    (code, label, rank, can_read, can_write, can_manage_members, can_delete_restore, can_administer, is_builtin, description)
VALUES
    ('viewer',     'Viewer',     10, true, false, false, false, false, true,
     'Reads the project, its documents, decisions and history; changes nothing.'),
    ('editor',     'Editor',     20, true, true,  false, false, false, true,
     'Everything a viewer does, and edits the project, its links and decisions, and registers and revises documents.'),
    ('maintainer', 'Maintainer', 30, true, true,  true,  true,  false, true,
     'Everything an editor does, and manages members up to maintainer, and soft-deletes and restores the project and its documents.'),
    ('owner',      'Owner',      40, true, true,  true,  true,  true,  true,
     'Full control: everything a maintainer does, and rollback, ownership transfer and managing other owners.');

INSERT INTO pulse.priority_reference (code, label, rank, is_builtin, description) VALUES
    ('low',      'Low',      10, true, 'Nice to have; no deadline.'),
    ('medium',   'Medium',   20, true, 'Normal planned work.'),
    ('high',     'High',     30, true, 'Important; scheduled ahead of medium work.'),
    ('critical', 'Critical', 40, true, 'Blocks other work or carries a deadline or risk that cannot slip.');

INSERT INTO pulse.phase_reference (code, label, sort_order, is_terminal, retention_policy, is_builtin, description) VALUES
    ('idea',        'Idea',        10, false, NULL,                true, 'Proposed; not yet planned.'),
    ('planning',    'Planning',    20, false, NULL,                true, 'Scope, owners and schedule are being agreed.'),
    ('design',      'Design',      30, false, NULL,                true, 'Architecture and specifications are being written.'),
    ('build',       'Build',       40, false, NULL,                true, 'Under construction.'),
    ('review',      'Review',      50, false, NULL,                true, 'Being reviewed, tested or approved.'),
    ('release',     'Release',     60, false, NULL,                true, 'Released or published.'),
    ('maintenance', 'Maintenance', 70, false, NULL,                true, 'In use; receives fixes and small changes.'),
    ('archived',    'Archived',    80, true,  interval '7 years',  true, 'Closed; kept for reference and compliance, history purged after seven years unless on legal hold.');

INSERT INTO pulse.license_reference (code, label, category, osi_approved, is_builtin, description) VALUES
    ('MIT',                  'MIT License',                                   'permissive',      true,  true, 'Permissive; keep the copyright notice.'),
    ('Apache-2.0',           'Apache License 2.0',                            'permissive',      true,  true, 'Permissive with an explicit patent grant; state changes.'),
    ('BSD-2-Clause',         'BSD 2-Clause "Simplified" License',             'permissive',      true,  true, 'Permissive; keep the copyright notice.'),
    ('BSD-3-Clause',         'BSD 3-Clause "New" or "Revised" License',       'permissive',      true,  true, 'Permissive; no endorsement by contributors'' names.'),
    ('ISC',                  'ISC License',                                   'permissive',      true,  true, 'Permissive, functionally equivalent to MIT.'),
    ('PostgreSQL',           'PostgreSQL License',                            'permissive',      true,  true, 'Permissive licence of PostgreSQL itself.'),
    ('MPL-2.0',              'Mozilla Public License 2.0',                    'weak_copyleft',   true,  true, 'File-level copyleft.'),
    ('LGPL-3.0-only',        'GNU Lesser General Public License v3.0 only',   'weak_copyleft',   true,  true, 'Library copyleft; linking allowed.'),
    ('GPL-2.0-only',         'GNU General Public License v2.0 only',          'strong_copyleft', true,  true, 'Strong copyleft, version 2 only.'),
    ('GPL-3.0-only',         'GNU General Public License v3.0 only',          'strong_copyleft', true,  true, 'Strong copyleft, version 3 only.'),
    ('AGPL-3.0-only',        'GNU Affero General Public License v3.0 only',   'strong_copyleft', true,  true, 'Strong copyleft that also covers network use.'),
    ('Unlicense',            'The Unlicense',                                 'public_domain',   true,  true, 'Dedication to the public domain.'),
    ('CC-BY-4.0',            'Creative Commons Attribution 4.0 International', 'content',        false, true, 'For documentation and media: attribution required.'),
    ('LicenseRef-Proprietary', 'Proprietary',                                 'proprietary',     false, true, 'All rights reserved; internal use only.');

INSERT INTO pulse.decision_type_reference (code, label, category, retention_policy, is_builtin, description) VALUES
    ('architecture', 'Architecture',  'technical',      NULL,              true, 'Structure of the system: components, boundaries, data flow.'),
    ('technology',   'Technology',    'technical',      NULL,              true, 'Choice of a language, framework, database or service.'),
    ('data_model',   'Data model',    'technical',      NULL,              true, 'Schemas, keys, retention and ownership of data.'),
    ('security',     'Security',      'governance',     NULL,              true, 'Threats accepted or mitigated, access rules, secrets handling.'),
    ('process',      'Process',       'organisational', interval '5 years', true, 'How the team works: reviews, releases, on-call.'),
    ('scope',        'Scope',         'organisational', interval '5 years', true, 'What is in and out of the project.'),
    ('vendor',       'Vendor',        'commercial',     interval '10 years', true, 'Suppliers, contracts and their terms.');

INSERT INTO pulse.feature_reference (code, label, category, is_builtin, description) VALUES
    ('authentication', 'Authentication',  'security',      true, 'Signing in, sessions and credentials.'),
    ('authorization',  'Authorization',   'security',      true, 'Roles, permissions and row-level access.'),
    ('audit_trail',    'Audit trail',     'security',      true, 'History of changes with who, when and why.'),
    ('file_upload',    'File upload',     'data',          true, 'Storing user files, previews and checksums.'),
    ('search',         'Search',          'data',          true, 'Full-text search, filters and facets.'),
    ('reporting',      'Reporting',       'data',          true, 'Dashboards, exports and scheduled reports.'),
    ('notifications',  'Notifications',   'collaboration', true, 'E-mail, chat and in-app notifications.'),
    ('comments',       'Comments',        'collaboration', true, 'Discussion threads on projects and documents.'),
    ('public_api',     'Public API',      'integration',   true, 'HTTP API for third-party clients.'),
    ('webhooks',       'Webhooks',        'integration',   true, 'Outgoing event callbacks.'),
    ('billing',        'Billing',         'commercial',    true, 'Plans, invoices and payments.'),
    ('onboarding',     'Onboarding',      'collaboration', true, 'Guides and defaults that get newcomers started.');

INSERT INTO pulse.tech_stack_reference (code, label, category, is_builtin, description) VALUES
    ('python',         'Python',          'language',       true, 'General-purpose language.'),
    ('rust',           'Rust',            'language',       true, 'Systems language with memory safety.'),
    ('typescript',     'TypeScript',      'language',       true, 'Typed JavaScript.'),
    ('go',             'Go',              'language',       true, 'Compiled language for services.'),
    ('fastapi',        'FastAPI',         'framework',      true, 'Python web framework with OpenAPI.'),
    ('react',          'React',           'framework',      true, 'User-interface library.'),
    ('postgresql',     'PostgreSQL',      'database',       true, 'Relational database.'),
    ('redis',          'Redis',           'database',       true, 'In-memory data store.'),
    ('s3',             'Amazon S3',       'storage',        true, 'Object storage (or an S3-compatible server).'),
    ('docker',         'Docker',          'infrastructure', true, 'Container images and runtime.'),
    ('kubernetes',     'Kubernetes',      'infrastructure', true, 'Container orchestration.'),
    ('terraform',      'Terraform',       'infrastructure', true, 'Infrastructure as code.'),
    ('github_actions', 'GitHub Actions',  'ci_cd',          true, 'CI/CD pipelines.'),
    ('prometheus',     'Prometheus',      'observability',  true, 'Metrics and alerting.');

INSERT INTO pulse.tag_reference (code, label, category, is_builtin, description) VALUES
    ('security',        'Security',        'risk',     true, 'Touches authentication, secrets or attack surface.'),
    ('compliance',      'Compliance',      'risk',     true, 'Subject to regulatory or contractual obligations.'),
    ('legacy',          'Legacy',          'status',   true, 'Old system kept running; changes are costly.'),
    ('experimental',    'Experimental',    'status',   true, 'Exploratory; may be discarded.'),
    ('performance',     'Performance',     'quality',  true, 'Latency, throughput or cost matter here.'),
    ('documentation',   'Documentation',   'quality',  true, 'Mostly about writing things down.'),
    ('customer-facing', 'Customer-facing', 'audience', true, 'Seen by customers.'),
    ('internal',        'Internal',        'audience', true, 'Used only inside the organisation.');

INSERT INTO pulse.filetype_reference (code, mime_type, label, category, extensions, retention_policy, is_builtin, description) VALUES
    ('pdf',      'application/pdf', 'PDF document', 'document', '{pdf}', NULL, true, 'Portable Document Format.'),
    ('docx',     'application/vnd.openxmlformats-officedocument.wordprocessingml.document', 'Word document', 'document', '{docx}', NULL, true, 'Office Open XML text document.'),
    ('doc',      'application/msword', 'Word 97-2003 document', 'document', '{doc}', NULL, true, 'Legacy binary Word document.'),
    ('odt',      'application/vnd.oasis.opendocument.text', 'OpenDocument text', 'document', '{odt}', NULL, true, 'OpenDocument text document.'),
    ('xlsx',     'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet', 'Excel workbook', 'spreadsheet', '{xlsx}', NULL, true, 'Office Open XML spreadsheet.'),
    ('xls',      'application/vnd.ms-excel', 'Excel 97-2003 workbook', 'spreadsheet', '{xls}', NULL, true, 'Legacy binary Excel workbook.'),
    ('ods',      'application/vnd.oasis.opendocument.spreadsheet', 'OpenDocument spreadsheet', 'spreadsheet', '{ods}', NULL, true, 'OpenDocument spreadsheet.'),
    ('pptx',     'application/vnd.openxmlformats-officedocument.presentationml.presentation', 'PowerPoint presentation', 'presentation', '{pptx}', NULL, true, 'Office Open XML presentation.'),
    ('txt',      'text/plain', 'Plain text', 'text', '{txt,text,log}', NULL, true, 'Unformatted text.'),
    ('md',       'text/markdown', 'Markdown', 'text', '{md,markdown}', NULL, true, 'Markdown-formatted text.'),
    ('html',     'text/html', 'HTML page', 'text', '{html,htm}', NULL, true, 'Web page.'),
    ('csv',      'text/csv', 'CSV table', 'data', '{csv}', NULL, true, 'Comma-separated values.'),
    ('json',     'application/json', 'JSON data', 'data', '{json}', NULL, true, 'JavaScript Object Notation.'),
    ('yaml',     'application/yaml', 'YAML data', 'data', '{yaml,yml}', NULL, true, 'YAML document (RFC 9512).'),
    ('xml',      'application/xml', 'XML data', 'data', '{xml}', NULL, true, 'Extensible Markup Language.'),
    ('sql',      'application/sql', 'SQL script', 'data', '{sql}', NULL, true, 'SQL statements (RFC 6922).'),
    ('png',      'image/png', 'PNG image', 'image', '{png}', NULL, true, 'Lossless raster image.'),
    ('jpeg',     'image/jpeg', 'JPEG image', 'image', '{jpg,jpeg}', NULL, true, 'Lossy raster image.'),
    ('gif',      'image/gif', 'GIF image', 'image', '{gif}', NULL, true, 'Raster image, possibly animated.'),
    ('webp',     'image/webp', 'WebP image', 'image', '{webp}', NULL, true, 'Raster image in WebP format.'),
    ('svg',      'image/svg+xml', 'SVG drawing', 'image', '{svg}', NULL, true, 'Vector drawing.'),
    ('zip',      'application/zip', 'ZIP archive', 'archive', '{zip}', NULL, true, 'Compressed archive.'),
    ('gzip',     'application/gzip', 'Gzip file', 'archive', '{gz,tgz}', NULL, true, 'Gzip-compressed file.'),
    ('mp4',      'video/mp4', 'MP4 video', 'video', '{mp4}', NULL, true, 'MPEG-4 video.'),
    ('mp3',      'audio/mpeg', 'MP3 audio', 'audio', '{mp3}', NULL, true, 'MPEG audio layer III.'),
    ('binary',   'application/octet-stream', 'Binary file', 'binary', '{bin}', interval '1 year', true, 'Unclassified bytes; kept one year after soft deletion.');
